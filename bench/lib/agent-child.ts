// The child process of bench/agent-rss: a node agent alone, as `kennel up` runs its local node
// (startNode of src/cli/node.ts: runtime client, agent, HTTPS endpoint for logs/exec/attach).
// argv: KUBECONFIG SERVER_DATA_DIR (for the CA) AGENT_DATA_DIR RUNTIME NODE_NAME.
// IPC: sends {type:'ready'} once registered; answers {type:'mem'} with the heap figures (and,
// under --expose-gc, the RSS right after a full collection);
// {type:'stop'} stops the agent and exits. Runs under tsx, or bundled by esbuild (plain node).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode } from '../../src/cli/node.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { createLogger } from '../../src/util/log.ts';

const [kubeconfig, serverDataDir, dataDir, runtime, nodeName] = process.argv.slice(2) as [string, string, string, 'process' | 'containerd', string];
const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;

const client = KubeClient.fromKubeconfig(kubeconfig, { userAgent: `kennel-agent/${nodeName}`, fieldManager: 'kennel-agent' });
const ca = { certPem: readFileSync(join(serverDataDir, 'pki', 'ca.crt'), 'utf8'), keyPem: readFileSync(join(serverDataDir, 'pki', 'ca.key'), 'utf8') };
const node = await startNode({ client, nodeName, runtime, dataDir, logger: createLogger('agent', { level: 'warn' }), ca });
process.send!({ type: 'ready', runtime: node.runtime });
process.on('message', (m: { type: string }) => {
  if (m.type === 'mem') {
    const u = process.memoryUsage();
    // With --expose-gc: the resident size once garbage is collected, too.
    const gc = (globalThis as { gc?: () => void }).gc;
    let rssAfterGcMiB: number | undefined;
    if (gc) {
      gc();
      rssAfterGcMiB = mib(process.memoryUsage().rss);
    }
    process.send!({ type: 'mem', heapUsedMiB: mib(u.heapUsed), heapTotalMiB: mib(u.heapTotal), externalMiB: mib(u.external + u.arrayBuffers), rssAfterGcMiB });
  } else if (m.type === 'stop') {
    void (async () => {
      await node.stop();
      client.close();
      process.exit(0);
    })();
  }
});
