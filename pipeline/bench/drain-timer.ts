import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { groupLag } from '../kafka/lag.js';

export interface DrainRun {
  /** Records in the topics when the drain started. */
  records: number;
  /**
   * From the contender's start to zero lag, start-up and group join included for every contender
   * alike (progress is only visible at commits, and a small backlog fits one of our rounds, so
   * "first progress" would flatter us). Large backlogs make the start-up share small.
   */
  seconds: number;
  rate: number;
  /** [seconds since start, records consumed] every sample. */
  series: [number, number][];
}

/** Samples a group's lag every `everyMs` until it is zero; `start` begins the contender's consumption. */
export async function timeDrain(
  kafka: Kafka,
  groupId: string,
  topics: string[],
  records: number,
  start: () => Promise<void>,
  opts: { everyMs?: number; timeoutMs?: number; failed?: () => Promise<string | undefined> } = {},
): Promise<DrainRun> {
  const everyMs = opts.everyMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 3_600_000;
  const t0 = Date.now();
  await start();
  const series: [number, number][] = [];
  let last = t0;
  for (;;) {
    const lag = await groupLag(kafka, groupId, topics);
    const now = Date.now();
    const consumed = Math.max(0, records - lag);
    series.push([(now - t0) / 1000, consumed]);
    last = now;
    if (lag <= 0) break;
    const failure = await opts.failed?.();
    if (failure !== undefined) throw new Error(`${groupId} stopped with ${lag} records left: ${failure}`);
    if (now - t0 > timeoutMs) throw new Error(`group ${groupId} still lags ${lag} records after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
  const seconds = Math.max(0.001, (last - t0) / 1000);
  return { records, seconds, rate: records / seconds, series };
}
