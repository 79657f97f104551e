# goalkeeper, built from this repository: the image holds what `goalkeeper start` (and `migrate`,
# which docker-compose.yml runs from the same image before it) needs, and nothing else: no tests,
# no benchmarks, no dev dependencies (no @temporalio/testing, embedded-postgres, playwright-core,
# TypeScript). It runs against the Postgres and Temporal the environment names; it embeds neither
# (`goalkeeper up`, the local all-in-one, needs the dev dependencies: run it from a checkout).
# Node 24, the current LTS, the version CI tests (.ci/run, package.json engines).

# Compiles the service's sources only (test/ and bench/ are never copied in).
FROM node:24.19.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: no `prepare` before the sources are here, and no install script of any
# dependency (the production stage below installs without them too).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npx tsc -p tsconfig.json

# The production dependencies alone, installed afresh (not pruned from the build's tree).
# --omit=dev keeps the root's optionalDependencies: squawk, the SQL linter the tests run (25 MB,
# optional only because it ships for Linux x64 alone), is removed by hand. Not --omit=optional:
# @swc/core's native binary, which the worker compiles its workflow bundle with at start, is an
# optional dependency too. (test/deploy/image.test.ts runs this line.)
FROM node:24.19.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && rm -rf node_modules/@squawk-cli && npm cache clean --force

FROM node:24.19.0-bookworm-slim
ENV NODE_ENV=production LOG_FORMAT=json GOALKEEPER_DATA_DIR=/tmp/goalkeeper
# A heap limit keeps a long-running worker small at rest: under Node's default limit V8 collects
# lazily (749 MB for 10,000 idle goals measured, 324 MB with this; README, Performance).
ENV NODE_OPTIONS=--max-old-space-size=512
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workflows ./dist/workflows
COPY --from=build /app/dist/activities ./dist/activities
COPY bin ./bin
COPY supabase/migrations ./supabase/migrations
USER node
EXPOSE 8787 9464
ENTRYPOINT ["node", "bin/goalkeeper.js"]
CMD ["start"]
