// The machine side of the Node: machine info, capacity/allocatable, pressure and conditions.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { rfc3339 } from './status.ts';

export interface MachineInfo {
  cpus: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  hostname: string;
  /** First non-loopback IPv4, or 127.0.0.1. */
  ip: string;
  osImage: string;
  kernelVersion: string;
  architecture: string;
  operatingSystem: string;
  machineID: string;
  bootID: string;
  systemUUID: string;
}

async function readTrim(path: string): Promise<string> {
  try {
    return (await fsp.readFile(path, 'utf8')).trim();
  } catch {
    return '';
  }
}

export function goArch(arch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[arch] ?? arch;
}

/** What the machine is, for capacity and nodeInfo. */
export async function collectMachineInfo(dataDir: string): Promise<MachineInfo> {
  let storage = 0;
  try {
    const st = await fsp.statfs(dataDir);
    storage = st.blocks * st.bsize;
  } catch {
    storage = 0;
  }
  const osRelease = await readTrim('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`;
  let ip = '127.0.0.1';
  for (const addrs of Object.values(os.networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) {
      ip = a.address;
      break;
    }
  }
  return {
    cpus: os.cpus().length || 1,
    memoryBytes: os.totalmem(),
    ephemeralStorageBytes: storage,
    hostname: os.hostname(),
    ip,
    osImage: pretty,
    kernelVersion: os.release(),
    architecture: goArch(),
    operatingSystem: 'linux',
    machineID: await readTrim('/etc/machine-id'),
    bootID: await readTrim('/proc/sys/kernel/random/boot_id'),
    systemUUID: await readTrim('/sys/class/dmi/id/product_uuid'),
  };
}

function ki(bytes: number): string {
  return `${Math.floor(bytes / 1024)}Ki`;
}

/** Capacity and allocatable (minus the kubelet's default hard eviction thresholds: memory 100Mi, nodefs 10%). */
export function machineResources(m: MachineInfo, overrides: Record<string, string> = {}): { capacity: Record<string, string>; allocatable: Record<string, string> } {
  const capacity: Record<string, string> = {
    cpu: String(m.cpus),
    memory: ki(m.memoryBytes),
    pods: '110',
    'ephemeral-storage': ki(m.ephemeralStorageBytes),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
  };
  const allocatable: Record<string, string> = {
    ...capacity,
    memory: ki(Math.max(0, m.memoryBytes - 100 * 1024 * 1024)),
    'ephemeral-storage': String(Math.floor(m.ephemeralStorageBytes * 0.9)),
  };
  for (const [k, v] of Object.entries(overrides)) {
    capacity[k] = v;
    allocatable[k] = v;
  }
  return { capacity, allocatable };
}

export interface Pressure {
  memory: boolean;
  disk: boolean;
  pid: boolean;
}

/** Memory available < 100Mi, or less than 10% of the data dir's filesystem free. */
export async function measurePressure(dataDir: string): Promise<Pressure> {
  let memory = false;
  const meminfo = await readTrim('/proc/meminfo');
  const avail = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
  if (avail) memory = Number(avail[1]) * 1024 < 100 * 1024 * 1024;
  let disk = false;
  try {
    const st = await fsp.statfs(dataDir);
    disk = st.blocks > 0 && st.bavail / st.blocks < 0.1;
  } catch {
    disk = false;
  }
  return { memory, disk, pid: false };
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/** The four kubelet conditions for a health snapshot. */
export function nodeConditions(p: Pressure, runtimeError: string | undefined): NodeCondition[] {
  return [
    p.memory
      ? { type: 'MemoryPressure', status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' }
      : { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    p.disk
      ? { type: 'DiskPressure', status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' }
      : { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    p.pid
      ? { type: 'PIDPressure', status: 'True', reason: 'KubeletHasInsufficientPID', message: 'kubelet has insufficient PID available' }
      : { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    runtimeError
      ? { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: `container runtime is down: ${runtimeError}` }
      : { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
  ];
}

/** Merge new conditions with the old ones: transition time moves only on a flip; heartbeat = now. */
export function mergeConditions(old: NodeCondition[] | undefined, next: NodeCondition[], now: number): NodeCondition[] {
  const prev = new Map((old ?? []).map((c) => [c.type, c]));
  const t = rfc3339(now);
  return next.map((c) => {
    const p = prev.get(c.type);
    return { ...c, lastHeartbeatTime: t, lastTransitionTime: p && p.status === c.status && p.lastTransitionTime ? p.lastTransitionTime : t };
  });
}

/** Whether two node statuses differ in anything but heartbeat times. */
export function nodeStatusChanged(a: Record<string, unknown> | undefined, b: Record<string, unknown>): boolean {
  const strip = (s: Record<string, unknown> | undefined): string => {
    if (!s) return '';
    const conds = ((s.conditions ?? []) as NodeCondition[]).map(({ lastHeartbeatTime: _h, ...rest }) => rest).sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0)); // not localeCompare: it loads ICU collation data
    return stableJson({ ...s, conditions: conds });
  };
  return strip(a) !== strip(b);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
