// TSCONTAINER_ALLOWED_HOSTS: hosts the CLI may connect to, with or without a port.
import { afterEach, describe, expect, it } from 'vitest';
import { checkAllowedHost } from '../../src/util/allowed-hosts.js';
import { UsageError } from '../../src/util/errors.js';

const saved = process.env['TSCONTAINER_ALLOWED_HOSTS'];
afterEach(() => {
  process.env['TSCONTAINER_ALLOWED_HOSTS'] = saved;
});

describe('checkAllowedHost', () => {
  it('unset or empty allows every host', () => {
    process.env['TSCONTAINER_ALLOWED_HOSTS'] = '';
    expect(() => checkAllowedHost('https://registry-1.docker.io/v2/')).not.toThrow();
  });
  it('a host without a port allows all its ports; with a port only that one', () => {
    process.env['TSCONTAINER_ALLOWED_HOSTS'] = '127.0.0.1, registry.local:5000,::1';
    expect(() => checkAllowedHost('http://127.0.0.1:5000/v2/')).not.toThrow();
    expect(() => checkAllowedHost('https://127.0.0.1/')).not.toThrow();
    expect(() => checkAllowedHost('https://registry.local:5000/v2/')).not.toThrow();
    expect(() => checkAllowedHost('https://[::1]:443/')).not.toThrow();
    expect(() => checkAllowedHost('https://registry.local/v2/')).toThrow(UsageError);
    expect(() => checkAllowedHost('https://registry-1.docker.io/v2/')).toThrow(
      /^registry-1\.docker\.io is not in TSCONTAINER_ALLOWED_HOSTS \(127\.0\.0\.1,registry\.local:5000,::1\): no connection was made$/,
    );
  });
  it('the test suite itself runs with loopback only', () => {
    expect(saved).toBe('127.0.0.1,localhost,::1');
  });
});
