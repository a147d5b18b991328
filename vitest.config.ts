import { defineConfig } from 'vitest/config';

// Four projects: `unit` is fast and needs nothing but Node; `browser` drives
// the web console in Debian's Chromium (*.browser.test.ts); `lab` needs root,
// network namespaces, real clients and QEMU (files named *.lab.test.ts), and
// runs in CI; `heavy` is the long lab runs (several VMs in sequence, faults
// injected mid-deployment; *.heavy.test.ts), run with `npm run test:heavy`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{core,contract,images,netboot,torrent,server,initramfs-client,lab,test}/**/*.test.ts'],
          exclude: ['**/*.lab.test.ts', '**/*.heavy.test.ts', '**/*.browser.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['{server,test}/**/*.browser.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['{core,contract,images,netboot,torrent,server,initramfs-client,lab,test}/**/*.lab.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // Lab tests share the machine's two cores with QEMU: one file at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'heavy',
          include: ['{core,contract,images,netboot,torrent,server,initramfs-client,lab,test}/**/*.heavy.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
