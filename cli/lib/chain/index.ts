// The chain library in one import: networks, keys, deployments, contracts, transactions, the
// local Hardhat node and the shared command-line options.
export * from "./networks.js";
export * from "./accounts.js";
export * from "./deployments.js";
export * from "./contracts.js";
export * from "./revert.js";
export * from "./tx.js";
export * from "./deploy.js";
export * from "./localChain.js";
export * from "./options.js";
export * from "./units.js";
export * from "./wallet.js";
export { packageRoot } from "./paths.js";
