import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../config.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';

let aptUpdated = false;

/**
 * Installs Debian packages when the binary they provide is missing. Services are kept from starting
 * on install (policy-rc.d), because the stack starts its own instances on its own ports.
 */
export function ensureDebianPackages(log: Logger, wanted: { binary: string; packages: string[] }[]): void {
  const missing = wanted.filter((w) => !existsSync(w.binary));
  if (missing.length === 0) return;
  const packages = missing.flatMap((m) => m.packages);
  if (process.getuid?.() !== 0) {
    throw new PipelineError('MISSING_BINARY', `missing ${missing.map((m) => m.binary).join(', ')}`, {
      hint: `install them: sudo apt-get install -y ${packages.join(' ')}`,
    });
  }
  log.info({ packages }, 'installing Debian packages');
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!aptUpdated) {
      run('apt-get', ['update', '-q'], env, 'apt-get update');
      aptUpdated = true;
    }
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], env, `apt-get install ${packages.join(' ')}`);
  } catch (cause) {
    throw new PipelineError('MISSING_BINARY', `${missing.map((m) => m.binary).join(', ')} missing, and installing ${packages.join(' ')} failed`, {
      cause: cause instanceof PipelineError ? cause.cause : cause,
      hint: 'check that apt can reach Debian\'s repositories (apt-get update), or install the package by hand',
    });
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true });
  }
  const still = missing.filter((m) => !existsSync(m.binary));
  if (still.length > 0) {
    throw new PipelineError('MISSING_BINARY', `still missing after install: ${still.map((m) => m.binary).join(', ')}`, {
      hint: 'check the apt output above; the package may have a different layout on this Debian release',
    });
  }
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): string {
  const out = spawnSync(command, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (out.error !== undefined || out.status !== 0) {
    const reason = out.error?.message ?? `${out.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new PipelineError(out.error === undefined ? 'INSTALL_FAILED' : 'MISSING_BINARY', `${what} failed`, {
      cause: reason,
      hint: out.error === undefined ? 'read the output above; rerun once the cause is fixed (installs are idempotent)' : `install ${command}`,
    });
  }
  return out.stdout;
}

/**
 * Fetches the jars a pom in stack/maven/ lists into the stack home. A marker holding the pom's hash
 * makes it a no-op when nothing changed, and a re-fetch when a pinned version did.
 */
export function ensureMavenArtifacts(log: Logger, stackHome: string, pomName: string, outputDir: string): void {
  const pom = join(PROJECT_ROOT, 'stack', 'maven', pomName, 'pom.xml');
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const markers = join(stackHome, 'installed');
  const marker = join(markers, `maven-${pomName}.${hash}`);
  if (existsSync(marker)) return;
  // Maven never deletes a jar it copied earlier: after a version bump the old one would sit beside
  // the new one on the classpath. Start the folder afresh.
  rmSync(join(stackHome, outputDir), { recursive: true, force: true });
  if (existsSync(markers)) for (const old of readdirSync(markers).filter((f) => f.startsWith(`maven-${pomName}.`))) rmSync(join(markers, old));
  log.info({ pom }, 'fetching jars from Maven Central (first run only)');
  const started = Date.now();
  run('mvn', ['-q', '-B', '-f', pom, 'package', `-Dstack.home=${stackHome}`], process.env, `mvn for stack/maven/${pomName}`);
  mkdirSync(join(stackHome, 'installed'), { recursive: true });
  writeFileSync(marker, new Date().toISOString());
  log.info({ pom, ms: Date.now() - started }, 'jars fetched');
}
