// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ITrainingPool} from "./interfaces/ITrainingPool.sol";
import {Funds} from "./libraries/Funds.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title TrainingPool
/// @notice Escrowed reward pools for federated training jobs: a flat part per attested update, and
/// per-round rewards that the evaluator commits as a Merkle root and contributors claim with proofs.
/// @dev Invariants: the contract's DUCK balance equals the sum of `remaining` over all jobs; for every
/// job `outstanding <= remaining`, and `outstanding` is the sum over its committed rounds of
/// `total - claimed`; for every round `claimed <= total <= roundBudget`.
contract TrainingPool is ITrainingPool, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint16 private constant MAX_BPS = 10_000;
    uint64 private constant MAX_CLAIM_WINDOW = 30 days;
    /// @dev Leaves 0-63 of a round are marked claimed in the round's own total/claimed slot, which a
    /// claim writes anyway: a first-time claimant then writes no fresh slot for its mark.
    uint256 private constant INLINE_LEAVES = 64;
    /// @dev Leaves from INLINE_LEAVES on are marked in bitmap words of 255 leaves; bit 255 of a word
    /// marks no leaf: commitRound sets it in the words the round will use, so that the first claim
    /// in a word changes a non-zero slot (5k) instead of writing a fresh one (22.1k).
    uint256 private constant LEAVES_PER_WORD = 255;
    uint256 private constant PREPARED = 1 << 255;

    /// @dev Storage form of {Job}, six slots. submitUpdate reads slots 0, 1, 3 (and 2 when the flat
    /// part is not 0) and writes slot 2 only; commitRound reads slots 0-2 and 4 and writes 1 and 2;
    /// claim reads and writes slot 2 and reads slot 3.
    struct JobSlot {
        // slot 0
        address requester;
        uint40 deadline;
        uint32 rounds;
        uint24 claimWindow;
        // slot 1
        address evaluator;
        uint16 accuracyThresholdBps;
        bool finished;
        uint32 committedRounds;
        uint40 lastCommitAt;
        // slot 2
        uint128 remaining;
        uint128 outstanding;
        // slot 3
        uint128 flatPerUpdate;
        uint128 maxPerContributor;
        // slot 4
        uint128 roundBudget;
        uint128 totalRewardPool;
        // slot 5: read by views only
        bytes32 modelHash;
    }

    /// @dev A round's commitment, two slots; committed iff rewardsRoot != 0 (commitRound refuses a zero root).
    /// total <= roundBudget < 2^96 (_checkTerms) and claimed <= total.
    struct RoundSlot {
        // slot 0
        bytes32 rewardsRoot;
        // slot 1: written by every claim
        uint96 total;
        uint96 claimed;
        /// Bit i set: leaf i (< INLINE_LEAVES) was claimed.
        uint64 claimedLeaves;
    }

    IERC20 private immutable _duck;
    uint256 private _jobCount;
    mapping(uint256 jobId => JobSlot) private _jobs;
    mapping(uint256 jobId => mapping(uint32 round => RoundSlot)) private _rounds;
    /// @dev A contributor's submissions in a job: round r is bit r % 256 of word r / 256, so only its
    /// first submission in a job (per 256 rounds) writes a fresh slot.
    mapping(uint256 jobId => mapping(address contributor => mapping(uint256 word => uint256 bits))) private _submitted;
    /// @dev Claimed leaves from INLINE_LEAVES on: leaf i is bit (i - 64) % 255 of word (i - 64) / 255;
    /// bit 255 is PREPARED.
    mapping(uint256 jobId => mapping(uint32 round => mapping(uint256 word => uint256 bits))) private _claimedLeaves;

    /// @param duck_ The $DUCK token.
    constructor(IERC20 duck_) EIP712("QuackMesh TrainingPool", "1") {
        _duck = duck_;
    }

    /// @inheritdoc ITrainingPool
    function createTrainingJob(JobTerms calldata terms) external nonReentrant returns (uint256 jobId) {
        _checkTerms(terms);
        uint256 pool = terms.totalRewardPool;
        uint256 available = Funds.available(_duck, msg.sender);
        if (available < pool) revert InsufficientFunds(msg.sender, pool, available);

        jobId = ++_jobCount;
        uint64 deadline = terms.deadline;
        // Every amount is at most the pool, checked to fit 128 bits; the claim window is at most
        // 30 days, below 2^24; the deadline is capped at 2^40 - 1.
        _jobs[jobId] = JobSlot({
            requester: msg.sender,
            deadline: deadline > type(uint40).max ? type(uint40).max : uint40(deadline),
            rounds: terms.rounds,
            claimWindow: uint24(terms.claimWindow),
            evaluator: terms.evaluator,
            accuracyThresholdBps: terms.accuracyThresholdBps,
            finished: false,
            committedRounds: 0,
            lastCommitAt: 0,
            remaining: uint128(pool),
            outstanding: 0,
            flatPerUpdate: uint128(terms.flatPerUpdate),
            maxPerContributor: uint128(terms.maxPerContributor),
            roundBudget: uint128(terms.roundBudget),
            totalRewardPool: uint128(pool),
            modelHash: terms.modelHash
        });
        emit TrainingJobCreated(jobId, msg.sender, terms.modelHash, terms);

        // Interaction last: the job exists before the token runs any code.
        _duck.safeTransferFrom(msg.sender, address(this), pool);
    }

    /// @inheritdoc ITrainingPool
    function submitUpdate(
        uint256 jobId,
        uint32 round,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata evaluatorSignature
    ) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        (uint256 reward, uint256 remaining) = _checkSubmission(job, jobId, round, accuracyBps);
        address signer = _attestationSigner(jobId, round, updateHash, accuracyBps, numSamples, evaluatorSignature);
        if (signer != job.evaluator) revert InvalidAttestation(jobId, round, msg.sender, signer);

        // Effects before the payment: the submission is recorded and the pool reduced, so a
        // re-entrant call is refused as a duplicate and can never pay out more than is free.
        (uint256 word, uint256 bit) = _bitPosition(round);
        _submitted[jobId][msg.sender][word] |= bit;
        emit UpdateSubmitted(jobId, round, msg.sender, updateHash, accuracyBps, numSamples);
        if (reward != 0) {
            // reward <= remaining - outstanding (see _checkSubmission).
            unchecked {
                job.remaining = uint128(remaining - reward);
            }
            emit RewardDistributed(jobId, msg.sender, reward);
            _duck.safeTransfer(msg.sender, reward);
        }
    }

    /// @inheritdoc ITrainingPool
    /// @dev Moves no token, so it needs no re-entrancy guard.
    function commitRound(
        uint256 jobId,
        uint32 round,
        bytes32 rewardsRoot,
        bytes32 updatesRoot,
        bytes32 modelHash,
        uint256 total,
        uint32 leaves,
        bytes calldata evaluatorSignature
    ) external {
        JobSlot storage job = _jobOf(jobId);
        if (job.finished) revert JobAlreadyFinished(jobId);
        if (round >= job.rounds) revert RoundOutOfRange(jobId, round, job.rounds);
        RoundSlot storage slot = _rounds[jobId][round];
        if (slot.rewardsRoot != bytes32(0)) revert RoundAlreadyCommitted(jobId, round);
        if (rewardsRoot == bytes32(0)) revert ZeroRewardsRoot(jobId, round);
        // A block of its own: the digest and the signer leave the stack after it (stack depth).
        {
            bytes32 digest = _hashTypedDataV4(
                Signatures.roundCommitment(jobId, round, rewardsRoot, updatesRoot, modelHash, total)
            );
            address signer = Signatures.signerOf(digest, evaluatorSignature);
            if (signer != job.evaluator) revert InvalidCommitmentSignature(jobId, round, signer);
        }
        uint256 outstanding = _checkCommitment(job, jobId, round, total);

        slot.rewardsRoot = rewardsRoot;
        // total <= roundBudget < 2^96, and outstanding + total <= remaining < 2^128 (_checkCommitment);
        // committedRounds < rounds before this commitment, as each round is committed once.
        unchecked {
            if (total != 0) slot.total = uint96(total);
            job.outstanding = uint128(outstanding + total);
            job.committedRounds += 1;
        }
        job.lastCommitAt = uint40(block.timestamp);
        _prepareMarks(jobId, round, leaves);
        emit RoundCommitted(jobId, round, rewardsRoot, updatesRoot, modelHash, total);
    }

    /// @inheritdoc ITrainingPool
    function claim(uint256 jobId, uint32 round, uint32 index, uint256 amount, bytes32[] calldata proof)
        external
        nonReentrant
    {
        RoundSlot storage slot = _rounds[jobId][round];
        bytes32 root = slot.rewardsRoot;
        if (root == bytes32(0)) revert RoundNotCommitted(jobId, round);
        // Marked first: every later check reverts the whole call, and a re-entrant claim is refused
        // as a duplicate. The index is part of the leaf, so a leaf has one mark.
        _markClaimed(slot, jobId, round, index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(jobId, round, index, msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(jobId, round, msg.sender, amount);
        // The round is committed, so the job exists.
        JobSlot storage job = _jobs[jobId];
        uint256 max = job.maxPerContributor;
        if (amount > max) revert ClaimAboveMaximum(jobId, amount, max);
        uint256 claimed = slot.claimed;
        uint256 available;
        // claimed <= total always.
        unchecked {
            available = slot.total - claimed;
        }
        if (amount > available) revert ClaimExceedsCommitment(jobId, round, amount, available);

        // amount <= total - claimed, which is part of outstanding, which is part of remaining.
        unchecked {
            slot.claimed = uint96(claimed + amount);
            job.outstanding -= uint128(amount);
            job.remaining -= uint128(amount);
        }
        emit RewardClaimed(jobId, round, msg.sender, amount);

        if (amount != 0) _duck.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ITrainingPool
    function finishJob(uint256 jobId, bytes calldata evaluatorSignature) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        if (job.finished) revert JobAlreadyFinished(jobId);
        address requester = job.requester;
        uint256 remaining = job.remaining;
        uint256 outstanding = job.outstanding;
        if (evaluatorSignature.length == 0) {
            if (msg.sender != requester) revert NotRequester(jobId, msg.sender);
            if (block.timestamp <= job.deadline) revert JobStillRunning(jobId, job.deadline);
        } else {
            bytes32 digest = _hashTypedDataV4(Signatures.jobFinished(jobId));
            address signer = Signatures.signerOf(digest, evaluatorSignature);
            if (signer != job.evaluator) revert InvalidFinishSignature(jobId, signer);
            // The requester need not wait once every committed amount was claimed; anyone else
            // waits until every round is committed and the claim window after the last one closed.
            if (msg.sender != requester || outstanding != 0) {
                uint32 committed = job.committedRounds;
                if (committed < job.rounds) revert RoundsNotCommitted(jobId, committed, job.rounds);
                uint64 closesAt = _claimWindowEnd(job);
                if (block.timestamp < closesAt) revert ClaimWindowOpen(jobId, closesAt);
            }
        }

        // Only the uncommitted part is refunded: outstanding stays claimable. outstanding <= remaining.
        uint256 refund;
        unchecked {
            refund = remaining - outstanding;
        }
        job.finished = true;
        job.remaining = uint128(outstanding);
        emit TrainingJobFinished(jobId, refund);

        // Interaction last: the job is finished and holds only what is committed before the token runs any code.
        if (refund != 0) _duck.safeTransfer(requester, refund);
    }

    /// @inheritdoc ITrainingPool
    function abortJob(uint256 jobId, uint32 rounds, bytes calldata evaluatorSignature) external nonReentrant {
        JobSlot storage job = _jobOf(jobId);
        if (job.finished) revert JobAlreadyFinished(jobId);
        address requester = job.requester;
        if (msg.sender != requester) revert NotRequester(jobId, msg.sender);
        uint32 committed = job.committedRounds;
        if (rounds < committed || rounds > job.rounds) revert InvalidAbortRounds(jobId, rounds, committed, job.rounds);
        address signer = Signatures.signerOf(_hashTypedDataV4(Signatures.jobAborted(jobId, rounds)), evaluatorSignature);
        if (signer != job.evaluator) revert InvalidAbortSignature(jobId, signer);

        uint256 remaining = job.remaining;
        uint256 free;
        // outstanding <= remaining always.
        unchecked {
            free = remaining - job.outstanding;
        }
        // Kept for the rounds the evaluator still has to commit: a round budget each. With a flat
        // part per update the rounds left may also pay flat parts, so all of the free pool stays
        // until the job finishes.
        uint256 reserve;
        bool pending = rounds > committed;
        if (pending) {
            // (rounds - committed) < 2^32 and roundBudget < 2^128: the product fits.
            reserve = job.flatPerUpdate != 0 ? free : uint256(rounds - committed) * job.roundBudget;
            if (reserve > free) reserve = free;
        }
        uint256 refund;
        // reserve <= free <= remaining.
        unchecked {
            refund = free - reserve;
            job.remaining = uint128(remaining - refund);
        }
        job.rounds = rounds;
        emit TrainingJobAborted(jobId, rounds, refund, reserve);
        if (!pending) {
            // Every kept round is committed: nothing is left to wait for.
            job.finished = true;
            emit TrainingJobFinished(jobId, 0);
        }

        // Interaction last: the job holds only what the kept rounds may still need before the token runs any code.
        if (refund != 0) _duck.safeTransfer(requester, refund);
    }

    /// @inheritdoc ITrainingPool
    function verifyProof(
        uint256 jobId,
        uint32 round,
        address contributor,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata signature
    ) external view returns (bool) {
        address evaluator = _jobs[jobId].evaluator;
        if (evaluator == address(0)) return false;
        bytes32 digest = _hashTypedDataV4(
            Signatures.attestation(jobId, round, contributor, updateHash, accuracyBps, numSamples)
        );
        return Signatures.signerOf(digest, signature) == evaluator;
    }

    /// @inheritdoc ITrainingPool
    function getJob(uint256 jobId) external view returns (Job memory) {
        JobSlot storage j = _jobOf(jobId);
        return Job({
            requester: j.requester,
            evaluator: j.evaluator,
            modelHash: j.modelHash,
            totalRewardPool: j.totalRewardPool,
            roundBudget: j.roundBudget,
            maxPerContributor: j.maxPerContributor,
            flatPerUpdate: j.flatPerUpdate,
            remaining: j.remaining,
            outstanding: j.outstanding,
            rounds: j.rounds,
            committedRounds: j.committedRounds,
            accuracyThresholdBps: j.accuracyThresholdBps,
            deadline: j.deadline,
            claimWindow: j.claimWindow,
            lastCommitAt: j.lastCommitAt,
            finished: j.finished
        });
    }

    /// @inheritdoc ITrainingPool
    function getRoundCommitment(uint256 jobId, uint32 round)
        external
        view
        returns (bytes32 rewardsRoot, uint256 total, uint256 claimed)
    {
        _jobOf(jobId);
        RoundSlot storage slot = _rounds[jobId][round];
        return (slot.rewardsRoot, slot.total, slot.claimed);
    }

    /// @inheritdoc ITrainingPool
    function isRoundCommitted(uint256 jobId, uint32 round) external view returns (bool) {
        return _rounds[jobId][round].rewardsRoot != bytes32(0);
    }

    /// @inheritdoc ITrainingPool
    function finishableAt(uint256 jobId) external view returns (uint64) {
        JobSlot storage job = _jobOf(jobId);
        if (job.committedRounds < job.rounds) return type(uint64).max;
        return _claimWindowEnd(job);
    }

    /// @inheritdoc ITrainingPool
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc ITrainingPool
    function hasSubmitted(uint256 jobId, uint32 round, address contributor) external view returns (bool) {
        return _hasSubmitted(jobId, round, contributor);
    }

    /// @inheritdoc ITrainingPool
    function isClaimed(uint256 jobId, uint32 round, uint32 index) external view returns (bool) {
        if (index < INLINE_LEAVES) return (_rounds[jobId][round].claimedLeaves >> index) & 1 != 0;
        (uint256 word, uint256 bit) = _markPosition(index);
        return _claimedLeaves[jobId][round][word] & bit != 0;
    }

    /// @inheritdoc ITrainingPool
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc ITrainingPool
    function duck() external view returns (address) {
        return address(_duck);
    }

    /// @dev The checks of createTrainingJob on the terms alone, in the documented order.
    function _checkTerms(JobTerms calldata terms) private view {
        uint256 pool = terms.totalRewardPool;
        if (pool == 0 || pool > type(uint128).max) revert InvalidRewardPool(pool);
        uint256 budget = terms.roundBudget;
        if (budget == 0 || budget > pool || budget > type(uint96).max) revert InvalidRoundBudget(budget, pool);
        uint256 max = terms.maxPerContributor;
        if (max == 0 || max > budget) revert InvalidMaxPerContributor(max, budget);
        if (terms.flatPerUpdate > budget) revert InvalidFlatPerUpdate(terms.flatPerUpdate, budget);
        if (terms.rounds == 0) revert InvalidRounds(terms.rounds);
        if (terms.accuracyThresholdBps > MAX_BPS) revert InvalidThreshold(terms.accuracyThresholdBps);
        if (terms.evaluator == address(0)) revert InvalidEvaluator(terms.evaluator);
        if (terms.deadline <= block.timestamp) revert InvalidDeadline(terms.deadline, uint64(block.timestamp));
        if (terms.claimWindow > MAX_CLAIM_WINDOW) revert InvalidClaimWindow(terms.claimWindow, MAX_CLAIM_WINDOW);
    }

    /// @dev Every check of an update but its signature. Returns the flat reward to pay,
    /// min(flatPerUpdate, remaining - outstanding), and the job's remaining pool (read only when the
    /// reward is not 0).
    function _checkSubmission(JobSlot storage job, uint256 jobId, uint32 round, uint16 accuracyBps)
        private
        view
        returns (uint256 reward, uint256 remaining)
    {
        if (job.finished) revert JobAlreadyFinished(jobId);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline);
        if (round >= job.rounds) revert RoundOutOfRange(jobId, round, job.rounds);
        if (accuracyBps < job.accuracyThresholdBps) revert BelowThreshold(jobId, accuracyBps, job.accuracyThresholdBps);
        if (_hasSubmitted(jobId, round, msg.sender)) revert AlreadySubmitted(jobId, round, msg.sender);
        reward = job.flatPerUpdate;
        if (reward != 0) {
            remaining = job.remaining;
            uint256 free;
            // outstanding <= remaining always.
            unchecked {
                free = remaining - job.outstanding;
            }
            if (free == 0) revert PoolExhausted(jobId);
            if (reward > free) reward = free;
        }
    }

    /// @dev The total check of commitRound: total <= min(roundBudget, remaining - outstanding).
    /// Returns the job's outstanding amount before this commitment.
    function _checkCommitment(JobSlot storage job, uint256 jobId, uint32 round, uint256 total)
        private
        view
        returns (uint256 outstanding)
    {
        outstanding = job.outstanding;
        uint256 limit;
        // outstanding <= remaining always.
        unchecked {
            limit = job.remaining - outstanding;
        }
        uint256 budget = job.roundBudget;
        if (budget < limit) limit = budget;
        if (total > limit) revert CommitmentTooLarge(jobId, round, total, limit);
    }

    /// @dev Word and bit (a one-bit mask) of position `i` in a bitmap of 256 bits a word.
    function _bitPosition(uint256 i) private pure returns (uint256 word, uint256 bit) {
        word = i >> 8;
        bit = 1 << (i & 255);
    }

    /// @dev Word and bit of leaf `index` (>= INLINE_LEAVES) in the round's claim bitmap.
    function _markPosition(uint256 index) private pure returns (uint256 word, uint256 bit) {
        // index >= INLINE_LEAVES (callers check), and the remainder is below 255: bit 255 stays PREPARED's.
        unchecked {
            uint256 i = index - INLINE_LEAVES;
            word = i / LEAVES_PER_WORD;
            bit = 1 << (i % LEAVES_PER_WORD);
        }
    }

    /// @dev Sets PREPARED in the bitmap words of leaves INLINE_LEAVES to `leaves - 1`. The round was
    /// not committed before, so nothing was claimed in it and every word is still 0: it is written,
    /// not read.
    function _prepareMarks(uint256 jobId, uint32 round, uint32 leaves) private {
        if (leaves <= INLINE_LEAVES) return;
        mapping(uint256 => uint256) storage marks = _claimedLeaves[jobId][round];
        (uint256 last,) = _markPosition(leaves - 1);
        for (uint256 word = 0; word <= last; ++word) {
            marks[word] = PREPARED;
        }
    }

    /// @dev Marks leaf `index` of the round claimed; reverts {AlreadyClaimed} when it was.
    function _markClaimed(RoundSlot storage slot, uint256 jobId, uint32 round, uint32 index) private {
        if (index < INLINE_LEAVES) {
            uint64 bits = slot.claimedLeaves;
            uint64 bit = uint64(1) << index;
            if (bits & bit != 0) revert AlreadyClaimed(jobId, round, index);
            slot.claimedLeaves = bits | bit;
        } else {
            (uint256 word, uint256 bit) = _markPosition(index);
            mapping(uint256 => uint256) storage marks = _claimedLeaves[jobId][round];
            uint256 bits = marks[word];
            if (bits & bit != 0) revert AlreadyClaimed(jobId, round, index);
            marks[word] = bits | bit;
        }
    }

    /// @dev True when `contributor` submitted an update for `round` of `jobId`.
    function _hasSubmitted(uint256 jobId, uint32 round, address contributor) private view returns (bool) {
        (uint256 word, uint256 bit) = _bitPosition(round);
        return _submitted[jobId][contributor][word] & bit != 0;
    }

    /// @dev lastCommitAt + claimWindow: a uint40 plus a value below 2^24 cannot overflow 64 bits.
    function _claimWindowEnd(JobSlot storage job) private view returns (uint64) {
        unchecked {
            return uint64(job.lastCommitAt) + job.claimWindow;
        }
    }

    /// @dev Signer of the Attestation of this update by `msg.sender` (address(0) when malformed).
    function _attestationSigner(
        uint256 jobId,
        uint32 round,
        bytes32 updateHash,
        uint16 accuracyBps,
        uint64 numSamples,
        bytes calldata signature
    ) private view returns (address) {
        bytes32 digest = _hashTypedDataV4(
            Signatures.attestation(jobId, round, msg.sender, updateHash, accuracyBps, numSamples)
        );
        return Signatures.signerOf(digest, signature);
    }

    function _jobOf(uint256 jobId) private view returns (JobSlot storage job) {
        job = _jobs[jobId];
        if (job.requester == address(0)) revert UnknownJob(jobId);
    }
}
