# syntax=docker/dockerfile:1
#
# One image for every service of the workspace (gateway, consumer, forwarder, migrate, ops): they share shared/
# and db/.
# The services run as TypeScript through Node 24's type stripping, so there is no build step; compose picks
# the process with `command`. Default: the gateway.

ARG NODE_IMAGE=node:24-slim

# --- deps: production node_modules for the workspace packages the services use --------------------------
FROM ${NODE_IMAGE} AS deps
# The pnpm pinned in package.json `packageManager` (only this stage needs it; the runtime runs `node` directly).
RUN npm install -g pnpm@10.34.9 && npm cache clean --force
WORKDIR /app
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
# directory is not even in the build context, which --frozen-lockfile accepts).
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
# Files stay owned by root (read-only for the app); the process runs as the image's unprivileged `node` user.
USER node
EXPOSE 8080
# No HEALTHCHECK here: the image is shared by services with different probes (the consumer and migrate have
# no HTTP port), so compose.yaml defines them per service.
CMD ["node", "services/gateway/src/main.ts"]
