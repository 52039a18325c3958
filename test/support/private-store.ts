import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadSettings, PROJECT_ROOT } from '../../pipeline/config.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A private instance of the real store (same launcher and jars as the stack), so it can be stopped. */
export async function startStore(port: number, file: string): Promise<ChildProcess> {
  const child = spawn('java', ['-Xmx256m', '-cp', `${join(loadSettings().stackHome, 'lib', 'store')}/*`, join(PROJECT_ROOT, 'stack', 'store', 'MongoStoreLauncher.java'), '127.0.0.1', String(port), file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('mongo-java-server ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`store exited with ${code}`)));
  });
  child.stdout?.resume();
  return child;
}

export async function stopStore(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
