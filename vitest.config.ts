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
  },
});
