import { defineConfig } from 'vitest/config';

// Unit tests need no privileges; integration tests run as root against the real kernel, each
// with its own temporary state root (see test/integration/README.md).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // No test may reach a host but this machine's loopback: a registry, token server or ADD URL
    // anywhere else is refused by the CLI itself (src/util/allowed-hosts.ts), so a test that
    // names an image nobody has fails with that line instead of pulling from docker.io.
    env: { TSCONTAINER_ALLOWED_HOSTS: '127.0.0.1,localhost,::1' },
  },
});
