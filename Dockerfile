# syntax=docker/dockerfile:1
# One image for every Synapse Jobs process; its command picks which: the worker (default), the API
# (node dist/client/http/main.js), the migrations (node dist/db/migrate-cli.js), the LLM stand-in
# (node dist/llm-standin/main.js). Built in one stage, run from dist/ with production dependencies only, as a
# non-root user. compose.yaml runs each of them; docs/operations.md (Production build and deployment) says how.

# --- build: every dependency, then `npm run build` (tsc to dist/ and the prebuilt workflow bundle)
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- production dependencies only (no TypeScript, Jest, ESLint)
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    WORKER_OPS_HOST=0.0.0.0 \
    API_HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# The node image's unprivileged user: a process that is broken into cannot write to the image or bind low ports.
USER node
# API, worker metrics, worker health.
EXPOSE 8080 9464 9465
# The worker's /healthz by default; compose.yaml gives the API and the stand-in their own URL.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "dist/workers/healthcheck.js"]
CMD ["node", "dist/workers/main.js"]
