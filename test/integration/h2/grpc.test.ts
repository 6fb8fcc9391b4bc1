/**
 * gRPC through the proxy with @grpc/grpc-js (issue 11): HTTP/2 on both sides, the bearer injected as `authorization`
 * metadata, trailers (grpc-status and custom trailing metadata) passed end to end, and server streaming unbuffered —
 * the upstream sends its second message only after the client has received the first, so a buffering proxy would
 * deadlock here instead of passing.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, WORKLOAD_TOKEN } from '../../helpers/proxy.js';
import { fixturePath } from '../../helpers/upstream.js';
import { closeKept, finalEvents, keep } from '../intercept/intercept-helpers.js';

const SECRET = 'sk-grpc-secret';
const id = (b: Buffer) => b;
const method = (name: string, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const SERVICE = { unary: method('Unary', false), stream: method('Stream', true) } as const;

afterEach(async () => {
  delete process.env.grpc_proxy;
  await closeKept();
});

async function setup(onFirstDelivered: Promise<void>) {
  const seen: string[] = [];
  const server = new grpc.Server();
  server.addService(SERVICE as unknown as grpc.ServiceDefinition, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.push(String(call.metadata.get('authorization')[0]));
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'end-of-call');
      cb(null, Buffer.from(`echo:${call.request.toString()}`), trailer);
    },
    stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      seen.push(String(call.metadata.get('authorization')[0]));
      call.write(Buffer.from('first'));
      void onFirstDelivered.then(() => {
        call.write(Buffer.from('second'));
        call.end();
      });
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [
    {
      private_key: readFileSync(fixturePath('upstream.key')),
      cert_chain: readFileSync(fixturePath('upstream.crt')),
    },
  ]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  keep({ close: () => new Promise<void>((r) => server.tryShutdown(() => r())) });
  const target = `api.upstream.test:${port}`;
  const px = keep(
    await startTestProxy({
      services: [{ name: 'grpc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: SECRET },
    }),
  );
  // grpc-js reads its proxy from the environment when a channel is made (CONNECT with Basic userinfo).
  process.env.grpc_proxy = `http://workload:${WORKLOAD_TOKEN}@127.0.0.1:${px.port}`;
  const Client = grpc.makeGenericClientConstructor(SERVICE as unknown as grpc.ServiceDefinition, 'Echo');
  const client = new Client(target, grpc.credentials.createSsl(Buffer.from(px.proxy.caCertPem)));
  keep({ close: async () => client.close() });
  return { client: client as unknown as Record<string, (...a: unknown[]) => unknown>, seen, px };
}

describe('gRPC through the proxy', () => {
  it('a unary call: bearer injected as authorization metadata, trailing metadata delivered', async () => {
    const { client, seen, px } = await setup(Promise.resolve());
    let trailers: grpc.Metadata | undefined;
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const call = client.unary!(Buffer.from('ping'), (err: Error | null, value: Buffer) =>
        err ? reject(err) : resolve(value),
      ) as grpc.ClientUnaryCall;
      call.on('status', (s: grpc.StatusObject) => {
        trailers = s.metadata;
      });
    });
    expect(reply.toString()).toBe('echo:ping');
    expect(seen).toEqual([`Bearer ${SECRET}`]);
    await expect.poll(() => trailers?.get('x-trailer')[0]).toBe('end-of-call');
    const [event] = await finalEvents(px);
    expect(event).toMatchObject({
      decision: 'inject',
      service: 'grpc',
      status: 200,
      path: '/test.Echo/Unary',
    });
  });

  it('server streaming is unbuffered: the first message arrives before the stream ends', async () => {
    let delivered!: () => void;
    const firstDelivered = new Promise<void>((r) => {
      delivered = r;
    });
    const { client, seen } = await setup(firstDelivered);
    const call = client.stream!(Buffer.from('go')) as grpc.ClientReadableStream<Buffer>;
    const messages: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('data', (m: Buffer) => {
        messages.push(m.toString());
        // Only now may the upstream send the rest: a proxy holding 'first' back would never get here.
        if (messages.length === 1) delivered();
      });
      call.on('status', resolve);
      call.on('error', reject);
    });
    expect(messages).toEqual(['first', 'second']);
    expect(status.code).toBe(grpc.status.OK);
    expect(seen).toEqual([`Bearer ${SECRET}`]);
  });
});
