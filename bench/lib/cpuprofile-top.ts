// Summarise a V8 .cpuprofile (from node --cpu-prof): the top functions by self time and by
// total (inclusive) time, as percentages of the samples. Usage:
//   node --import tsx bench/lib/cpuprofile-top.ts FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

export function topOfProfile(p: Profile, n = 30): { self: [string, number][]; total: [string, number][] } {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const label = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|node_modules|bench|test)\//, '$1/').replace(/^node:/, 'node:')}:${f.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const id of p.samples) {
    const node = byId.get(id);
    if (!node) continue;
    const l = label(node.callFrame);
    self.set(l, (self.get(l) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const lab = label(byId.get(cur)!.callFrame);
      if (seen.has(lab)) continue;
      seen.add(lab);
      total.set(lab, (total.get(lab) ?? 0) + 1);
    }
  }
  const pct = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => [k, Math.round((v / p.samples.length) * 1000) / 10] as [string, number]);
  return { self: pct(self), total: pct(total) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const p = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Profile;
  const t = topOfProfile(p, Number(process.argv[3] ?? 30));
  console.log('self %:');
  for (const [k, v] of t.self) console.log(`  ${v.toFixed(1).padStart(5)}  ${k}`);
  console.log('total %:');
  for (const [k, v] of t.total) console.log(`  ${v.toFixed(1).padStart(5)}  ${k}`);
}
