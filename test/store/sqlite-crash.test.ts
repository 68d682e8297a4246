// Crash safety: a child process writes with 50 concurrent writers and is killed with SIGKILL at
// a random moment; every write it acknowledged must be in the file afterwards.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashTrial } from './crash-child.ts';

const dir = mkdtempSync(join(tmpdir(), 'kennel-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('sqlite store survives SIGKILL', () => {
  for (let trial = 1; trial <= 3; trial++) {
    it(`trial ${trial}: every acknowledged write is present and revisions continue`, async () => {
      // The same file across trials: later trials also recover a file that was killed before.
      const killAfterAcks = 200 + Math.floor(Math.random() * 3000);
      const r = await runCrashTrial({ dir, killAfterAcks, maxExtraDelayMs: 50 });
      assert.ok(r.acknowledged >= killAfterAcks, `only ${r.acknowledged} acks before the kill`);
      assert.deepEqual(r.problems, []);
      assert.equal(r.lost, 0);
      assert.equal(r.corrupt, 0);
      assert.ok(r.newRevision > r.maxAckedRevision);
    });
  }
});
