import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPid, runningPid, startTime } from '../../pipeline/stack/processes.js';

describe('pid files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidfiles-'));
  const file = (text: string) => {
    const path = join(dir, `${Math.random()}.pid`);
    writeFileSync(path, text);
    return path;
  };

  test('a pid with its start time names that process', () => {
    const own = startTime(process.pid);
    expect(own).toMatch(/^\d+$/);
    expect(runningPid(file(`${process.pid} ${own}\n`))).toBe(process.pid);
  });

  test('a pid whose process started at another time is someone else now: never ours to signal', () => {
    expect(readPid(file(`${process.pid} 1\n`))).toBeUndefined();
    expect(runningPid(file(`${process.pid} 1\n`))).toBeUndefined();
  });

  test('a pid file of an earlier release (pid only) is still read', () => {
    expect(readPid(file(`${process.pid}\n`))).toBe(process.pid);
  });
});
