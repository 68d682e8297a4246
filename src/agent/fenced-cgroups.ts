// The cgroup directories runc leaves behind for a node's fenceable containerd pods
// (fence-watchdog.ts puts them under /kennel-fenced/<node>-<hash of the data dir>), removed
// when the node's containerd is purged.
import { readdirSync, rmdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { cgroupMountPoints, fencedCgroupParent } from './fence-watchdog.ts';

/**
 * Remove the fenced cgroup parent of the nodes that used `dataDir` (/kennel-fenced/<node>-<hash>,
 * see fencedCgroupParent) from every hierarchy under `roots`, with what is left below it, and
 * /kennel-fenced itself once no node uses it. runc removes a container's own cgroup, never the
 * parents it made; a cgroup that still has processes stays (rmdir refuses). For purges, when the
 * node's containers are gone. Returns the directories removed.
 */
export function removeFencedCgroups(dataDir: string, roots: string[] = cgroupMountPoints()): string[] {
  const parent = fencedCgroupParent('node', dataDir);
  const suffix = parent.slice(parent.lastIndexOf('-'));
  const removed: string[] = [];
  const rmdirTree = (dir: string): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) if (e.isDirectory()) rmdirTree(join(dir, e.name));
    try {
      rmdirSync(dir);
      removed.push(dir);
      return true;
    } catch {
      return false;
    }
  };
  for (const root of roots) {
    const base = join(root, 'kennel-fenced');
    let nodes: string[];
    try {
      nodes = readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.endsWith(suffix)).map((e) => e.name);
    } catch {
      continue;
    }
    for (const n of nodes) rmdirTree(join(base, n));
    try {
      if (!readdirSync(base, { withFileTypes: true }).some((e) => e.isDirectory())) {
        rmdirSync(base);
        removed.push(base);
      }
    } catch {
      // another node's, or in use
    }
  }
  return removed;
}
