import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { RouteClient } from '../../../src/upstream/h1-dispatcher.js';
import { Client, Pool } from '../../../src/upstream/undici-classes.js';

describe('undici classes imported by path', () => {
  it('are the classes the package index exports, so its types and behaviour apply', () => {
    expect(Client).toBe(undici.Client);
    expect(Pool).toBe(undici.Pool);
    const client = new RouteClient('https://example.test', {});
    expect(client).toBeInstanceOf(undici.Client);
    void client.close();
  });
});
