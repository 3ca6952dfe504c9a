// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Inference job escrow paid in $DUCK
/// @notice A requester escrows `maxPayment` for an inference job. Once, anyone may settle it with the
/// orchestrator's EIP-712 signature over the usage (providers and amounts, summing to at most
/// maxPayment): providers are paid and the rest returns to the requester. If no usage is settled
/// within {RECLAIM_DELAY} of creation, the requester may take the whole escrow back with {reclaim};
/// a reclaimed job counts as settled (paid 0), so it can never be settled afterwards.
/// @dev EIP-712 domain { name: "QuackMesh InferencePool", version: "1", chainId, verifyingContract }.
/// Type: `Usage(uint256 jobId,address[] providers,uint256[] amounts)`.
interface IInferencePool {
    /// @notice An inference job as returned by {getInferenceJob}.
    /// @param requester Address that escrowed the payment and receives the refund.
    /// @param orchestrator Address whose EIP-712 signature settles the job.
    /// @param modelHash sha256 of the model served.
    /// @param maxPayment Amount escrowed.
    /// @param paid Amount paid to providers at settlement.
    /// @param settled True once settled.
    struct InferenceJob {
        address requester;
        address orchestrator;
        bytes32 modelHash;
        uint256 maxPayment;
        uint256 paid;
        bool settled;
    }

    /// @notice Emitted when a requester created a job and escrowed `maxPayment`.
    event InferenceJobCreated(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 modelHash,
        uint256 maxPayment,
        address orchestrator
    );

    /// @notice Emitted when a job was settled: `paid` went to providers, `refund` to the requester.
    event InferenceSettled(uint256 indexed jobId, uint256 paid, uint256 refund);

    /// @notice Emitted when the requester took back the whole escrow (`refund` = maxPayment) of a
    /// job nobody settled within {RECLAIM_DELAY}.
    event InferenceReclaimed(uint256 indexed jobId, uint256 refund);

    /// @notice No job has this id.
    error UnknownJob(uint256 jobId);
    /// @notice `maxPayment` must be 1 to 2^128 - 1.
    error InvalidPayment(uint256 maxPayment);
    /// @notice The orchestrator must not be the zero address.
    error InvalidOrchestrator(address orchestrator);
    /// @notice The requester's balance or allowance (`available`, the smaller one) is below `needed`.
    error InsufficientFunds(address payer, uint256 needed, uint256 available);
    /// @notice The job was already settled.
    error AlreadySettled(uint256 jobId);
    /// @notice `providers` and `amounts` differ in length.
    error LengthMismatch(uint256 providers, uint256 amounts);
    /// @notice Provider number `index` is the zero address.
    error InvalidProvider(uint256 index, address provider);
    /// @notice The amounts add up to `total`, above the job's `maxPayment`.
    error PaymentExceedsMax(uint256 jobId, uint256 total, uint256 maxPayment);
    /// @notice The usage was not signed by the job's orchestrator; `signer` is who signed it (0 if unreadable).
    error InvalidUsageSignature(uint256 jobId, address signer);
    /// @notice Only the job's requester may reclaim it; `caller` is who tried.
    error NotRequester(uint256 jobId, address caller);
    /// @notice The escrow can be reclaimed from `availableAt` (unix seconds) on.
    error ReclaimTooEarly(uint256 jobId, uint256 availableAt);

    /// @notice Creates an inference job and pulls `maxPayment` into escrow (approve first).
    /// @return jobId Id of the new job, starting at 1.
    function createInferenceJob(bytes32 modelHash, uint256 maxPayment, address orchestrator)
        external
        returns (uint256 jobId);

    /// @notice Settles a job once: pays `amounts[i]` to `providers[i]` and refunds the rest to the requester.
    /// @param orchestratorSignature 65-byte EIP-712 signature of the Usage by the job's orchestrator.
    function settle(
        uint256 jobId,
        address[] calldata providers,
        uint256[] calldata amounts,
        bytes calldata orchestratorSignature
    ) external;

    /// @notice The requester takes back the whole escrow of a job that was not settled within
    /// {RECLAIM_DELAY} of its creation. The job then counts as settled with nothing paid.
    function reclaim(uint256 jobId) external;

    /// @notice Seconds after creation from which an unsettled job's requester may {reclaim} it.
    function RECLAIM_DELAY() external view returns (uint256);

    /// @notice When (unix seconds) the requester of `jobId` may reclaim it if still unsettled;
    /// reverts with {UnknownJob} for an unused id.
    function reclaimableAt(uint256 jobId) external view returns (uint256);

    /// @notice The job `jobId`; reverts with {UnknownJob} for an unused id.
    function getInferenceJob(uint256 jobId) external view returns (InferenceJob memory);

    /// @notice Number of jobs ever created (the highest job id).
    function jobCount() external view returns (uint256);

    /// @notice The EIP-712 domain separator of this contract.
    function domainSeparator() external view returns (bytes32);

    /// @notice The $DUCK token used for payment.
    function duck() external view returns (address);
}
