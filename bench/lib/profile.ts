// CPU-profile a phase of a benchmark on the calling thread with the inspector (only the
// measured phase, unlike node --cpu-prof which covers start-up too), and summarise it.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { topOfProfile } from './cpuprofile-top.ts';

export interface PhaseProfiler {
  /** Stop, write the .cpuprofile to path (if given) and return the top self/total entries. */
  stop(path?: string): Promise<{ self: [string, number][]; total: [string, number][] }>;
}

export async function startProfiler(): Promise<PhaseProfiler> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(path) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      if (path) writeFileSync(path, JSON.stringify(profile));
      return topOfProfile(profile as unknown as Parameters<typeof topOfProfile>[0], 25);
    },
  };
}
