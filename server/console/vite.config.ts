/** Vite build of the web console: server/console/web → server/console/dist, served by fastify at `/`. */
import { join } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

export default defineConfig({
  root: join(here, 'web'),
  base: './',
  // The preset sets up JSX for Preact (automatic runtime) and, under `vite dev`, hot reload.
  plugins: [preact()],
  build: {
    outDir: join(here, 'dist'),
    emptyOutDir: true,
    // The server sends CSP `default-src 'self'`: no inline scripts, styles or data: URLs in the output.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
  },
});
