# syntax=docker/dockerfile:1
#
# One image for every service of the workspace (gateway, consumer, forwarder, migrate, ops): they share shared/
# and db/.
# The services run as TypeScript through Node 24's type stripping, so they have no build step; the one thing
# built is the dashboard's browser bundle (services/dashboard/dist), which the gateway serves at /dashboard.
# compose picks the process with `command`. Default: the gateway.

ARG NODE_IMAGE=node:24-slim

# --- pnpm: the pnpm pinned in package.json `packageManager` (the runtime runs `node` directly) ----------------
FROM ${NODE_IMAGE} AS pnpm
RUN npm install -g pnpm@10.34.9 && npm cache clean --force
WORKDIR /app

# --- dashboard: the page's bundle, built with its dev dependencies (Vite); only dist/ reaches the runtime ----
FROM pnpm AS dashboard
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY shared/package.json shared/
COPY services/dashboard/package.json services/dashboard/
# --ignore-scripts: the root `prepare` script builds the dashboard, which cannot work before its sources are
# here; the build runs below, once they are.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --ignore-scripts --store-dir /pnpm/store --filter "@evpipe/dashboard..."
# The dashboard imports the API's response schemas from shared/.
COPY shared/ shared/
COPY services/dashboard/ services/dashboard/
RUN pnpm --filter @evpipe/dashboard build

# --- deps: production node_modules for the workspace packages the services use --------------------------
FROM pnpm AS deps
# Manifests first, so editing the sources does not invalidate the install layer.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY shared/package.json shared/
COPY db/package.json db/
COPY services/gateway/package.json services/gateway/
COPY services/consumer/package.json services/consumer/
COPY services/ops/package.json services/ops/
COPY services/forwarder/package.json services/forwarder/
# --prod: typescript/vitest/biome are not needed at run time. The filters select the four service packages
# and, through `...`, their workspace dependencies (shared, db); the `tests` package is left out (its
# directory is not even in the build context, which --frozen-lockfile accepts). The root `prepare` script runs
# too and finds no dashboard package here (its manifest is not copied), so it builds nothing.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store \
      --filter "@evpipe/gateway..." --filter "@evpipe/consumer..." --filter "@evpipe/ops..." \
      --filter "@evpipe/forwarder..."

# --- runtime -------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# node_modules (root virtual store + per-package links, all relative symlinks) and the manifests.
COPY --from=deps /app ./
COPY shared/ shared/
COPY db/ db/
COPY services/ services/
COPY --from=dashboard /app/services/dashboard/dist services/dashboard/dist
# Files stay owned by root (read-only for the app); the process runs as the image's unprivileged `node` user.
USER node
EXPOSE 8080
# No HEALTHCHECK here: the image is shared by services with different probes (the consumer and migrate have
# no HTTP port), so compose.yaml defines them per service.
CMD ["node", "services/gateway/src/main.ts"]
