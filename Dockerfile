# QuackMesh for local development (docker-compose.yml): one image for every service.
# Stage 1 compiles the native addon (CPU kernels; no CUDA in this image), the contracts and the
# TypeScript; stage 2 keeps what runs, without compilers. Hardhat stays installed because
# `quackmesh chain` runs a Hardhat node. Nothing is downloaded at run time.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV QUACKMESH_NO_CUDA=1
COPY . .
# npm ci runs the package's install scripts: cmake-js builds the addon, then contracts + TypeScript.
RUN npm ci && npm run build:ts

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json /src/hardhat.config.ts /src/tsconfig.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/build/Release build/Release
COPY --from=build /src/artifacts artifacts
COPY --from=build /src/cache cache
COPY --from=build /src/contracts contracts
COPY --from=build /src/dist dist
COPY --from=build /src/docker docker
ENV NODE_ENV=production QUACKMESH_HOME=/var/lib/quackmesh QUACKMESH_DEPLOYMENTS=/var/lib/quackmesh/deployments
RUN mkdir -p /var/lib/quackmesh && ln -s /app/dist/cli/index.js /usr/local/bin/quackmesh
ENTRYPOINT ["node", "/app/dist/cli/index.js"]
CMD ["--help"]
