// `npm run bench -- NAME` runs bench/NAME.ts, which prints one JSON line of figures.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
const name = process.argv[2];
if (!name || !existsSync(`bench/${name}.ts`)) {
  console.error(`usage: npm run bench -- NAME (one of the files in bench/, without .ts)`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
