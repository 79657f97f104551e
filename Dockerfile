# goalkeeper, built from this repository. The image runs `goalkeeper up` against the Postgres and
# Temporal the environment names (see docker-compose.yml): with both set it embeds neither.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY supabase ./supabase
COPY test ./test
COPY bench ./bench
# `npm ci` runs `prepare` (tsc), which compiles everything above into dist/.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production LOG_FORMAT=json GOALKEEPER_DATA_DIR=/tmp/goalkeeper
# A heap limit keeps a long-running worker small at rest: under Node's default limit V8 collects
# lazily (749 MB for 10,000 idle goals measured, 324 MB with this; README, Performance).
ENV NODE_OPTIONS=--max-old-space-size=512
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/supabase ./supabase
USER node
EXPOSE 8787 9464
ENTRYPOINT ["node", "bin/goalkeeper.js"]
CMD ["up"]
