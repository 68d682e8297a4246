// bench/store-crash: SIGKILL trials against the sqlite store (the harness of
// test/store/crash-child.ts). Each trial runs a child with 50 concurrent writers, kills it at a
// random moment, reopens the file and checks every acknowledged write. Prints one JSON line:
// acknowledged writes, lost (must be 0), corrupt (must be 0).
//
// Environment: BENCH_TRIALS (default 20).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashTrial } from '../test/store/crash-child.ts';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kennel-bench-crash-'));
  let acknowledged = 0;
  let lost = 0;
  let corrupt = 0;
  const problems: string[] = [];
  const t0 = performance.now();
  try {
    for (let i = 1; i <= TRIALS; i++) {
      // One file for all trials: each trial also recovers what the previous kill left behind.
      const killAfterAcks = 100 + Math.floor(Math.random() * 5000);
      const r = await runCrashTrial({ dir, killAfterAcks, maxExtraDelayMs: 100 });
      acknowledged += r.acknowledged;
      lost += r.lost;
      corrupt += r.corrupt;
      problems.push(...r.problems.slice(0, 5));
      process.stderr.write(
        `store-crash: trial ${i}: ${r.acknowledged} acknowledged, lost ${r.lost}, corrupt ${r.corrupt}, revision ${r.maxAckedRevision} -> ${r.newRevision}\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const result = {
    bench: 'store-crash',
    trials: TRIALS,
    acknowledged,
    lost,
    corrupt,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    ok: lost === 0 && corrupt === 0,
    problems: problems.slice(0, 20),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  if (!result.ok) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`store-crash: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
