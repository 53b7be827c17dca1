export { type BackendContractOptions, type ContractSettings, describeBackendContract } from "./contract.js";
