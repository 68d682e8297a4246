// The `kennel` command (bin/kennel.mjs loads this file): parse, run the sub-command, exit with
// its code. Bad input is one line on stderr and exit code 2; a failure to start is one line and
// exit code 1; stack traces only with KENNEL_DEBUG=1.
import { parseCli, kennelVersion, type ControlPlaneOptions } from './args.ts';
import { runAgent } from './agent.ts';
import { createLogger } from '../util/log.ts';

function fail(command: string, err: unknown, describe: (e: unknown) => string): number {
  process.stderr.write(`kennel ${command}: ${describe(err)}\n`);
  if (process.env.KENNEL_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

async function runControlPlane(command: 'up' | 'server', opts: ControlPlaneOptions): Promise<number> {
  const log = createLogger('kennel');
  // Loaded only for the commands that need it: --help and bad flags stay fast.
  const { startControlPlane, describeStartupError } = await import('./controlplane.ts');
  let cp;
  try {
    cp = await startControlPlane(opts, { logger: log });
  } catch (err) {
    return fail(command, err, (e) => describeStartupError(e, opts));
  }
  const running = cp;
  // A crash while serving: one structured line (with the stack, for the bug report), then a
  // best-effort stop so the store is closed cleanly.
  const crash = (err: unknown) => {
    log.error('kennel crashed', { error: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack });
    void running.stop().finally(() => process.exit(1));
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn('second signal, exiting without waiting', { signal });
        process.exit(1);
      }
      log.info('shutting down', { signal });
      void running.stop().then(() => {
        log.info('stopped');
        resolve(0);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function main(argv: string[]): Promise<number> {
  // In-pod helpers (peer-finder, wait-for) and the tools image builder.
  const { runToolCommand } = await import('./tools.ts');
  const toolCode = await runToolCommand(argv);
  if (toolCode !== undefined) return toolCode;
  const parsed = parseCli(argv);
  if (!parsed.ok) {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    return parsed.exitCode;
  }
  const run = parsed.run;
  switch (run.command) {
    case 'version':
      process.stdout.write(`kennel v${kennelVersion()} (Kubernetes API v1.32)\n`);
      return 0;
    case 'up':
    case 'server':
      return runControlPlane(run.command, run.options);
    case 'agent':
      return runAgent(run.options);
  }
}

try {
  const code = await main(process.argv.slice(2));
  // Exit explicitly: client libraries (etcd) may keep handles open after a clean stop.
  process.exit(code);
} catch (err) {
  process.stderr.write(`kennel: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
  if (process.env.KENNEL_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exit(1);
}
