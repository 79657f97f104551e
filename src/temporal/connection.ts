/**
 * Connections to Temporal from the validated configuration: plain, TLS with a client certificate
 * (mTLS clusters), or an API key (Temporal Cloud).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { Config } from '../config';

function tlsOptions(config: Config) {
  const tls = config.temporal.tls;
  if (!tls) return undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.caPath ? readFileSync(tls.caPath) : undefined,
    clientCertPair:
      tls.certPath && tls.keyPath ? { crt: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } : undefined,
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
