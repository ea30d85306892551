# syntax=docker/dockerfile:1
#
# meterline: one image for every app. `docker run IMAGE <app>` runs one app in its own process
# (api, clickhouse-sink, rollup-consumer, invoice-scheduler) or a CLI command (migrate, quota,
# invoice, ...): the arguments go to apps/cli/src/main.ts. compose.yaml runs the fleet.
#
# No build step: the apps run their TypeScript through tsx, a production dependency.
#
# Platform: linux/amd64. chdb (the embedded ClickHouse, a dependency loaded when
# @meterline/clickhouse is imported, even when CLICKHOUSE_URL points at a server) ships its
# engine for linux x64 here; package.json overrides stub the linux-arm64 build. On an arm64
# host build with --platform linux/amd64.

ARG NODE_IMAGE=node:24-bookworm-slim

# The workspaces' package.json files (and the CLI's bin script) only, so the install layers
# below are rebuilt when a manifest changes, not on every source change.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY apps/ apps/
COPY libs/ libs/
RUN find apps libs -mindepth 2 -maxdepth 2 ! -name package.json ! -name bin -exec rm -rf {} +

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches/ patches/
COPY infra/npm-stubs/ infra/npm-stubs/
COPY --from=manifests /app/ ./
# Production packages only, as the lockfile pins them: tsx (the apps run their TypeScript
# through it) and patch-package (its postinstall patches kafkajs) are dependencies for this.
RUN npm ci --omit=dev --no-audit --no-fund && node -e 'import("tsx/esm/api")'

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    METERLINE_LOG_FORMAT=json \
    METERLINE_HTTP_HOST=0.0.0.0 \
    METERLINE_HEALTH_HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app/node_modules/ node_modules/
# tsconfig.json: tsx compiles with the same settings as development.
COPY package.json package-lock.json tsconfig.json ./
# node_modules links the stubbed optional packages to infra/npm-stubs.
COPY infra/npm-stubs/ infra/npm-stubs/
COPY apps/ apps/
COPY libs/ libs/
COPY schemas/ schemas/
COPY infra/clickhouse/migrations/ infra/clickhouse/migrations/
# The repository's price books; mount your own over /app/pricing (or set METERLINE_PRICING_DIR).
COPY pricing/ pricing/
# Invoice documents (METERLINE_INVOICE_DIR) and the shim's spool (METERLINE_SPOOL_DIR) default
# to .data/ under /app; mount volumes there. Owned by the user the apps run as.
RUN mkdir -p .data/invoices .data/spool && chown -R node:node .data
USER node
# api: METERLINE_HTTP_PORT (API, /livez, /readyz). Workers' /livez and /readyz
# (METERLINE_HEALTH_PORT): clickhouse-sink 8788, rollup-consumer 8789, invoice-scheduler 8790.
EXPOSE 8787 8788 8789 8790
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "--import", "tsx", "apps/cli/src/main.ts"]
CMD ["api"]
