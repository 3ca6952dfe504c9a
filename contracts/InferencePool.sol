// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IInferencePool} from "./interfaces/IInferencePool.sol";
import {Funds} from "./libraries/Funds.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title InferencePool
/// @notice Escrow for inference jobs, settled once against the orchestrator's signed usage, or
/// reclaimed whole by the requester when nobody settled it within RECLAIM_DELAY.
/// @dev Invariant: the contract's DUCK balance equals the sum of maxPayment over unsettled jobs
/// (a reclaimed job counts as settled).
contract InferencePool is IInferencePool, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @dev Storage form of {InferenceJob}.
    struct JobSlot {
        // slot 0
        address requester;
        bool settled;
        uint40 createdAt;
        // slot 1
        address orchestrator;
        // slot 2
        uint128 maxPayment;
        uint128 paid;
        // slot 3
        bytes32 modelHash;
    }

    /// @inheritdoc IInferencePool
    uint256 public constant RECLAIM_DELAY = 1 days;

    IERC20 private immutable _duck;
    uint256 private _jobCount;
    mapping(uint256 jobId => JobSlot) private _jobs;

    /// @param duck_ The $DUCK token.
    constructor(IERC20 duck_) EIP712("QuackMesh InferencePool", "1") {
        _duck = duck_;
    }

    /// @inheritdoc IInferencePool
    function createInferenceJob(bytes32 modelHash, uint256 maxPayment, address orchestrator)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        if (maxPayment == 0 || maxPayment > type(uint128).max) revert InvalidPayment(maxPayment);
        if (orchestrator == address(0)) revert InvalidOrchestrator(orchestrator);
        uint256 available = Funds.available(_duck, msg.sender);
        if (available < maxPayment) revert InsufficientFunds(msg.sender, maxPayment, available);

        jobId = ++_jobCount;
        _jobs[jobId] = JobSlot({
            requester: msg.sender,
            settled: false,
            // uint40 seconds last past the year 30000.
            createdAt: uint40(block.timestamp),
            orchestrator: orchestrator,
            maxPayment: uint128(maxPayment),
            paid: 0,
            modelHash: modelHash
        });
        emit InferenceJobCreated(jobId, msg.sender, modelHash, maxPayment, orchestrator);

        // Interaction last: the job exists before the token runs any code.
        _duck.safeTransferFrom(msg.sender, address(this), maxPayment);
    }

    /// @inheritdoc IInferencePool
    function settle(
        uint256 jobId,
        address[] calldata providers,
        uint256[] calldata amounts,
        bytes calldata orchestratorSignature
    ) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        if (job.settled) revert AlreadySettled(jobId);
        uint256 count = providers.length;
        if (count != amounts.length) revert LengthMismatch(count, amounts.length);
        uint256 maxPayment = job.maxPayment;
        uint256 total;
        for (uint256 i; i < count; ++i) {
            if (providers[i] == address(0)) revert InvalidProvider(i, address(0));
            uint256 amount = amounts[i];
            // Each amount is checked against maxPayment before it is added, so the running total
            // stays below count × 2^128 and cannot overflow.
            if (amount > maxPayment) revert PaymentExceedsMax(jobId, amount, maxPayment);
            total += amount;
        }
        if (total > maxPayment) revert PaymentExceedsMax(jobId, total, maxPayment);

        bytes32 digest = _hashTypedDataV4(Signatures.usage(jobId, providers, amounts));
        address signer = Signatures.signerOf(digest, orchestratorSignature);
        if (signer != job.orchestrator) revert InvalidUsageSignature(jobId, signer);

        uint256 refund;
        // total <= maxPayment was checked above.
        unchecked {
            refund = maxPayment - total;
        }
        job.settled = true;
        job.paid = uint128(total);
        emit InferenceSettled(jobId, total, refund);

        // Interactions last: the job is settled before any token code runs, so nothing is paid twice.
        IERC20 token = _duck;
        for (uint256 i; i < count; ++i) {
            if (amounts[i] != 0) token.safeTransfer(providers[i], amounts[i]);
        }
        if (refund != 0) token.safeTransfer(job.requester, refund);
    }

    /// @inheritdoc IInferencePool
    function reclaim(uint256 jobId) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        if (job.settled) revert AlreadySettled(jobId);
        address requester = job.requester;
        if (msg.sender != requester) revert NotRequester(jobId, msg.sender);
        uint256 availableAt = uint256(job.createdAt) + RECLAIM_DELAY;
        if (block.timestamp < availableAt) revert ReclaimTooEarly(jobId, availableAt);

        uint256 refund = job.maxPayment;
        job.settled = true;
        emit InferenceReclaimed(jobId, refund);

        // Interaction last: the job is settled before the token runs any code, so settle and a
        // second reclaim are refused from here on.
        _duck.safeTransfer(requester, refund);
    }

    /// @inheritdoc IInferencePool
    function reclaimableAt(uint256 jobId) external view returns (uint256) {
        return uint256(_jobOf(jobId).createdAt) + RECLAIM_DELAY;
    }

    /// @inheritdoc IInferencePool
    function getInferenceJob(uint256 jobId) external view returns (InferenceJob memory) {
        JobSlot storage j = _jobOf(jobId);
        return InferenceJob({
            requester: j.requester,
            orchestrator: j.orchestrator,
            modelHash: j.modelHash,
            maxPayment: j.maxPayment,
            paid: j.paid,
            settled: j.settled
        });
    }

    /// @inheritdoc IInferencePool
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IInferencePool
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IInferencePool
    function duck() external view returns (address) {
        return address(_duck);
    }

    function _jobOf(uint256 jobId) private view returns (JobSlot storage job) {
        job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
    }
}
