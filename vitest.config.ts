import { defineConfig } from 'vitest/config';

// Two projects: `unit` is fast and needs nothing but Node; `lab` needs root,
// network namespaces, real clients and QEMU (files named *.lab.test.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{server,netboot,initramfs-client,images,test}/**/*.test.ts'],
          exclude: ['**/*.lab.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['{server,netboot,initramfs-client,images,test}/**/*.lab.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // Lab tests share the machine's two cores with QEMU: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
