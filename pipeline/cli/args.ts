import { parseArgs } from 'node:util';
import { z } from 'zod';
import { PipelineError } from '../errors.js';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/**
 * util.parseArgs for the shape, zod for the values: every flag a command takes is declared once and
 * arrives typed, or the command stops with the flag named.
 */
export function parseCommandArgs<S extends z.ZodType>(
  argv: string[],
  options: OptionSpec,
  schema: S,
  usage: string,
): { values: z.infer<S>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new PipelineError('CLI_USAGE', cause instanceof Error ? cause.message : String(cause), { hint: `usage: ${usage}` });
  }
  const values = schema.safeParse(parsed.values);
  if (!values.success) {
    const issues = values.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ');
    throw new PipelineError('CLI_USAGE', issues, { hint: `usage: ${usage}` });
  }
  return { values: values.data, positionals: parsed.positionals };
}

export const positiveInt = z.coerce.number().int().positive();
