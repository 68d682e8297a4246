// Test helper: run the real `dig` (dnsutils) and read its answer. Tests fail loudly when dig is
// missing — CI installs dnsutils.
import { execFile, spawnSync } from 'node:child_process';

export function requireDig(): void {
  if (spawnSync('sh', ['-c', 'command -v dig'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('dig is not installed: `apt-get install -y dnsutils` (the DNS tests need the real dig)');
  }
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  raw: string;
}

/** Run dig against server:port with extra args (name, type, +tcp, -x …). */
export function dig(server: string, port: number, args: string[], timeoutMs = 10_000): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'dig',
      [`@${server}`, '-p', String(port), '+tries=1', '+time=3', '+noall', '+comments', '+answer', '+authority', '+additional', ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err && !stdout) {
          reject(new Error(`dig ${args.join(' ')} failed: ${stderr || err.message}`));
          return;
        }
        resolve(parseDig(stdout));
      },
    );
  });
}

export function parseDig(out: string): DigResult {
  const res: DigResult = { status: '', flags: [], answer: [], authority: [], additional: [], raw: out };
  let section: 'answer' | 'authority' | 'additional' | '' = '';
  for (const line of out.split('\n')) {
    const st = /status: ([A-Z]+)/.exec(line);
    if (st) res.status = st[1];
    const fl = /^;; flags: ([a-z ]+);/.exec(line);
    if (fl) res.flags = fl[1].trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION')) section = 'answer';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authority';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additional';
    else if (line.trim() === '' || line.startsWith(';')) {
      if (line.trim() === '') section = '';
    } else if (section) res[section].push(line.trim().split(/\s+/).join(' '));
  }
  return res;
}
