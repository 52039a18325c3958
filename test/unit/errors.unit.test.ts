import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../pipeline/config.js';
import { ERROR_CODES, PipelineError } from '../../pipeline/errors.js';

describe('error codes', () => {
  test('docs/ERRORS.md documents exactly the codes the code defines', () => {
    const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'ERRORS.md'), 'utf8');
    const documented = [...doc.matchAll(/^### ([A-Z_]+)$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  test('describe() says what happened, the cause and the fix', () => {
    const err = new PipelineError('PORT_IN_USE', 'redis cannot start: port 6379 is held by nc (pid 1)', { cause: new Error('EADDRINUSE'), hint: 'stop it' });
    expect(err.describe()).toBe('error PORT_IN_USE: redis cannot start: port 6379 is held by nc (pid 1)\n  cause: EADDRINUSE\n  fix: stop it');
    expect(err.retriable).toBe(false);
  });
});
