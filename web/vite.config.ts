// Builds the dashboard into web/dist, which the gateway serves at "/".
// `npm run build:web`; for development, `vite --config web/vite.config.ts`
// proxies /api and /live to a gateway on SENTIO_DEV_GATEWAY (default
// http://127.0.0.1:8099).

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

const root = fileURLToPath(new URL('.', import.meta.url));
const gateway = process.env.SENTIO_DEV_GATEWAY ?? 'http://127.0.0.1:8099';

export default defineConfig({
  root,
  base: '/',
  plugins: [solid()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      '/live': { target: gateway.replace(/^http/, 'ws'), ws: true, changeOrigin: true },
    },
  },
});
