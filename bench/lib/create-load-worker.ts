// Worker-thread entry for bench/lib/create-load.ts. Protocol with the parent:
//   → {type:'ready'} once every connection is up;  ← {type:'go', deadline};
//   → {type:'done', result} (latencies transferred);  ← {type:'stop'} closes and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { CreateLoad, type CreateLoadOptions } from './create-load.ts';

const port = parentPort!;
const load = new CreateLoad(workerData as CreateLoadOptions);
port.on('message', (m: { type: 'go'; deadline: number } | { type: 'stop' }) => {
  if (m.type === 'go') {
    void load.run(m.deadline).then((result) => port.postMessage({ type: 'done', result }, [result.latencies.buffer as ArrayBuffer]));
  } else {
    load.close();
    port.close();
  }
});
load.connect().then(
  () => port.postMessage({ type: 'ready' }),
  (e: unknown) => {
    throw e;
  },
);
