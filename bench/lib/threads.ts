// Start a worker thread running a TypeScript module. Node 20 does not hand the tsx loader of
// the main thread to workers, so the worker registers it itself before importing the module.
import { Worker } from 'node:worker_threads';

export function startTsWorker(moduleUrl: URL, workerData: unknown): Worker {
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(moduleUrl.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** The next message of a worker (rejects if it fails or exits first). */
export function nextMessage<T>(w: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMsg = (m: T) => {
      cleanup();
      resolve(m);
    };
    const onErr = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`worker exited with code ${code}`));
    };
    const cleanup = () => {
      w.off('message', onMsg);
      w.off('error', onErr);
      w.off('exit', onExit);
    };
    w.on('message', onMsg);
    w.on('error', onErr);
    w.on('exit', onExit);
  });
}
