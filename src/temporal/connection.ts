/**
 * Connections to Temporal from the validated configuration: plain, TLS with a client certificate
 * (mTLS clusters), or an API key (Temporal Cloud).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError, type Config } from '../config';

/** A file a TLS setting names, or a ConfigError naming the setting (not a bare ENOENT). */
function readTlsFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError([`${variable} must name a readable file, got "${path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
}

function tlsOptions(config: Config) {
  const tls = config.temporal.tls;
  if (!tls) return undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.caPath ? readTlsFile('TEMPORAL_TLS_CA_PATH', tls.caPath) : undefined,
    clientCertPair:
      tls.certPath && tls.keyPath
        ? { crt: readTlsFile('TEMPORAL_TLS_CERT_PATH', tls.certPath), key: readTlsFile('TEMPORAL_TLS_KEY_PATH', tls.keyPath) }
        : undefined,
  };
}

export function temporalAddress(config: Config): string {
  return config.temporal.address ?? 'localhost:7233';
}

export function clientConnectionOptions(config: Config): ConnectionOptions {
  return { address: temporalAddress(config), tls: tlsOptions(config), apiKey: config.temporal.apiKey };
}

export function workerConnectionOptions(config: Config): NativeConnectionOptions {
  return { address: temporalAddress(config), tls: tlsOptions(config), apiKey: config.temporal.apiKey };
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect(clientConnectionOptions(config));
  return new Client({ connection, namespace: config.temporal.namespace });
}

export async function connectWorker(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect(workerConnectionOptions(config));
}
