import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseCli, defaultDataDir, type CliCommand, type ParseResult } from '../../src/cli/args.ts';

const TOKEN = `K10${'ab'.repeat(32)}::server:c2VjcmV0`;

function ok(argv: string[]): CliCommand {
  const r = parseCli(argv);
  assert.ok(r.ok, `expected ${argv.join(' ')} to parse, got ${JSON.stringify(r)}`);
  return r.run;
}

function bad(argv: string[]): Extract<ParseResult, { ok: false }> {
  const r = parseCli(argv);
  assert.ok(!r.ok, `expected ${argv.join(' ')} to be refused`);
  assert.equal(r.exitCode, 2);
  assert.equal(r.stdout, '');
  // One plain line that points at the help, no stack trace.
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /\(see 'kennel( \w+)? --help'\)\n$/);
  assert.doesNotMatch(r.stderr, /\bat \w+ \(|Error:/);
  return r;
}

describe('kennel up / server flags', () => {
  it('defaults: 127.0.0.1:6443, sqlite in the data dir, runtime auto', () => {
    const run = ok(['up']);
    assert.equal(run.command, 'up');
    if (run.command !== 'up') return;
    const dataDir = defaultDataDir();
    assert.deepEqual(run.options, { dataDir, bind: '127.0.0.1', port: 6443, store: { backend: 'sqlite', path: join(dataDir, 'state.db') }, runtime: 'auto' });
  });

  it('reads every flag', () => {
    const run = ok(['up', '--data-dir', '/tmp/k', '--bind', '0.0.0.0', '--port', '7443', '--runtime', 'simulated', '--dns-listen', '127.0.0.1:1053']);
    assert.deepEqual(run, {
      command: 'up',
      options: { dataDir: '/tmp/k', bind: '0.0.0.0', port: 7443, store: { backend: 'sqlite', path: '/tmp/k/state.db' }, runtime: 'simulated', dnsListen: { host: '127.0.0.1', port: 1053 } },
    });
    const v6 = ok(['server', '--bind', '::', '--port=0', '--dns-listen', '[::1]:53']);
    assert.deepEqual(v6.command === 'server' && v6.options.dnsListen, { host: '::1', port: 53 });
    assert.equal(v6.command === 'server' && v6.options.port, 0);
  });

  it('etcd: endpoints (scheme added when missing) and prefix; endpoints alone imply etcd', () => {
    const run = ok(['server', '--store', 'etcd', '--etcd-endpoints', 'http://10.0.0.1:2379, 10.0.0.2:2379,https://e3:2379', '--etcd-prefix', '/k1/']);
    assert.deepEqual(run.command === 'server' && run.options.store, {
      backend: 'etcd',
      endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379', 'https://e3:2379'],
      prefix: '/k1/',
    });
    const implied = ok(['up', '--etcd-endpoints', '127.0.0.1:2379']);
    assert.deepEqual(implied.command === 'up' && implied.options.store, { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'] });
  });

  it('kennel server has no local node, so no --runtime', () => {
    const run = ok(['server']);
    assert.equal(run.command === 'server' && run.options.runtime, undefined);
    assert.match(bad(['server', '--runtime', 'process']).stderr, /^kennel server: unknown option '--runtime'/);
  });

  it('refuses bad values with one line each', () => {
    assert.equal(bad(['up', '--port', 'notanumber']).stderr, `kennel up: --port must be a port number from 0 to 65535, got "notanumber" (see 'kennel up --help')\n`);
    assert.match(bad(['up', '--port', '65536']).stderr, /--port must be a port number/);
    assert.match(bad(['up', '--port', '-1']).stderr, /--port/);
    assert.match(bad(['up', '--port', '80.5']).stderr, /--port must be a port number/);
    assert.match(bad(['up', '--bind', 'not an address']).stderr, /--bind must be an IP address/);
    assert.match(bad(['up', '--runtime', 'docker']).stderr, /--runtime must be one of auto, containerd, process, simulated, got "docker"/);
    assert.match(bad(['up', '--dns-listen', '127.0.0.1']).stderr, /--dns-listen must be ADDRESS:PORT/);
    assert.match(bad(['up', '--dns-listen', 'localhost:53']).stderr, /--dns-listen must be ADDRESS:PORT/);
    assert.match(bad(['up', '--dns-listen', '127.0.0.1:0']).stderr, /--dns-listen must be a port number from 1/);
    assert.match(bad(['up', '--store', 'mysql']).stderr, /--store must be one of sqlite, etcd, got "mysql"/);
    assert.match(bad(['up', '--store', 'etcd']).stderr, /--store etcd needs --etcd-endpoints/);
    assert.match(bad(['up', '--store', 'sqlite', '--etcd-endpoints', 'h:1']).stderr, /only apply with --store etcd/);
    assert.match(bad(['up', '--etcd-endpoints', 'ftp://h:1']).stderr, /--etcd-endpoints: "ftp:\/\/h:1"/);
    assert.match(bad(['up', '--etcd-endpoints', 'h']).stderr, /--etcd-endpoints: "h"/);
    assert.match(bad(['up', '--data-dir', '']).stderr, /--data-dir must not be empty/);
  });

  it('refuses unknown options, missing values, extra arguments and unknown commands', () => {
    assert.match(bad(['up', '--frobnicate']).stderr, /^kennel up: unknown option '--frobnicate'/);
    assert.match(bad(['up', '--port']).stderr, /^kennel up: option '--port <port>' argument missing/);
    assert.match(bad(['up', 'extra']).stderr, /^kennel up: too many arguments/);
    assert.match(bad(['frob']).stderr, /^kennel: unknown command 'frob'/);
    assert.match(bad([]).stderr, /^kennel: a command is needed/);
  });
});

describe('kennel agent flags', () => {
  it('parses the server, the token, and the node settings', () => {
    const run = ok(['agent', '--server', 'https://10.0.0.5:6443/', '--token', TOKEN, '--node-name', 'worker-1', '--node-ip', '10.0.0.6', '--labels', 'disk=ssd,kennel.dev/zone=a', '--taints', 'dedicated=db:NoSchedule,gpu:NoExecute', '--runtime', 'process', '--data-dir', '/tmp/a']);
    assert.deepEqual(run, {
      command: 'agent',
      options: {
        server: 'https://10.0.0.5:6443',
        token: TOKEN,
        caHash: 'ab'.repeat(32),
        secret: 'c2VjcmV0',
        nodeName: 'worker-1',
        nodeIP: '10.0.0.6',
        labels: { disk: 'ssd', 'kennel.dev/zone': 'a' },
        taints: [
          { key: 'dedicated', value: 'db', effect: 'NoSchedule' },
          { key: 'gpu', effect: 'NoExecute' },
        ],
        runtime: 'process',
        dataDir: '/tmp/a',
      },
    });
  });

  it('refuses what cannot work', () => {
    assert.match(bad(['agent', '--token', TOKEN]).stderr, /--server is required/);
    assert.match(bad(['agent', '--server', 'https://h:6443']).stderr, /--token is required/);
    assert.match(bad(['agent', '--server', 'http://h:6443', '--token', TOKEN]).stderr, /--server must be an https:\/\/ URL/);
    assert.match(bad(['agent', '--server', 'h:6443x', '--token', TOKEN]).stderr, /--server must/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', 'K10abc::server:x']).stderr, /--token is not a join token/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', TOKEN, '--node-name', 'Bad_Name']).stderr, /--node-name must be/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', TOKEN, '--taints', 'a=b:Sometimes']).stderr, /effect "Sometimes"; the effect must be one of NoSchedule, PreferNoSchedule, NoExecute/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', TOKEN, '--taints', 'novalue']).stderr, /--taints: "novalue"/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', TOKEN, '--labels', 'a']).stderr, /--labels: "a"/);
    assert.match(bad(['agent', '--server', 'https://h:6443', '--token', TOKEN, '--node-ip', 'x']).stderr, /--node-ip must be an IP address/);
  });
});

describe('help, version, data dir', () => {
  it('help goes to stdout with exit code 0', () => {
    for (const argv of [['--help'], ['up', '--help'], ['help', 'agent']]) {
      const r = parseCli(argv);
      assert.ok(!r.ok);
      assert.equal(r.exitCode, 0);
      assert.match(r.stdout, /Usage: kennel/);
      assert.equal(r.stderr, '');
    }
    const up = parseCli(['up', '--help']);
    assert.ok(!up.ok && /--data-dir <dir>/.test(up.stdout) && /--etcd-endpoints <urls>/.test(up.stdout));
  });

  it('version as a command and as a flag', () => {
    assert.deepEqual(ok(['version']), { command: 'version' });
    const r = parseCli(['--version']);
    assert.ok(!r.ok && r.exitCode === 0 && /^kennel v\d+\.\d+\.\d+/.test(r.stdout));
  });

  it('the data dir is /var/lib/kennel for root and per-user otherwise', () => {
    assert.equal(defaultDataDir({ HOME: '/home/u' }, 0), '/var/lib/kennel');
    assert.equal(defaultDataDir({ HOME: '/home/u' }, 1000), '/home/u/.local/share/kennel');
    assert.equal(defaultDataDir({ HOME: '/home/u', XDG_DATA_HOME: '/data' }, 1000), '/data/kennel');
    assert.equal(defaultDataDir({ HOME: '/home/u', XDG_DATA_HOME: 'relative' }, 1000), '/home/u/.local/share/kennel');
  });
});
