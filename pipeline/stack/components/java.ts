import { join } from 'node:path';
import { PROJECT_ROOT } from '../../config.js';
import { ensureDebianPackages, ensureMavenArtifacts } from '../install.js';
import { stackPath, type StackContext } from '../component.js';

export const JAVA = '/usr/bin/java';

/** Java and Maven from Debian, then the jars a pom in stack/maven/ names. */
/** Each pom in stack/maven/ and the folder of the stack home it fills. */
const POM_OUTPUT = { kafka: 'lib/kafka', store: 'lib/store', debezium: 'plugins/debezium-connector-postgres', 'mongo-sink': 'plugins/mongo-kafka-connect' } as const;

export function ensureJavaAndJars(ctx: StackContext, ...poms: (keyof typeof POM_OUTPUT)[]): void {
  ensureDebianPackages(ctx.log, [
    { binary: JAVA, packages: ['openjdk-17-jre-headless'] },
    { binary: '/usr/bin/mvn', packages: ['maven'] },
  ]);
  for (const pom of poms) ensureMavenArtifacts(ctx.log, ctx.settings.stackHome, pom, POM_OUTPUT[pom]);
}

export function classpath(ctx: StackContext, lib: string): string {
  return `${stackPath(ctx, 'lib', lib)}/*`;
}

/** Kafka 4.x reads its logging config only from this property; without it the JVMs log nothing. */
export function log4jConfig(which: 'kafka' | 'connect'): string {
  return `-Dlog4j2.configurationFile=${join(PROJECT_ROOT, 'stack', 'config', `log4j2-${which}.properties`)}`;
}
