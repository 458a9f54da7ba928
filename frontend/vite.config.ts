import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The app calls relative /api/v1 URLs: nginx serves both from one origin in production, and the dev
// server proxies them to a gateway (GATEWAY_URL, default the native stack's nginx).
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: { "/api": process.env.GATEWAY_URL ?? "http://127.0.0.1:8000" },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
