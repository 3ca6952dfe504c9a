// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IComputeMarketplace} from "./interfaces/IComputeMarketplace.sol";
import {Funds} from "./libraries/Funds.sol";
import {RentalMath} from "./libraries/RentalMath.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title ComputeMarketplace
/// @notice Escrowed, pay-as-served rentals of provider machines in $DUCK.
/// @dev Invariant: the contract's DUCK balance equals the machines' stakes plus, over all rentals,
/// amount for Pending, amount - withdrawn for Active, earned-at-end - withdrawn for Ended, and 0
/// for Cancelled (earned-at-end net of a settled downtime refund).
contract ComputeMarketplace is IComputeMarketplace, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @dev Prices are stored in 96 bits so that a machine fits two slots; amount = price × hours < 2^128.
    uint256 private constant MAX_PRICE = type(uint96).max;

    /// @inheritdoc IComputeMarketplace
    uint256 public constant SLASH_BPS = 2500;

    /// @dev Storage form of {Machine}: provider and price in one slot, the rest in the second.
    struct MachineSlot {
        address provider;
        uint96 pricePerHour;
        uint32 maxHours;
        bool listed;
        uint64 activeRentalId;
        uint128 stake;
    }

    /// @dev Storage form of {Rental}: rentMachine writes slots 0 and 1 (and 3 when it names an
    /// arbiter); acknowledgement, withdrawals, the end and a downtime statement touch slot 2 (and the
    /// status in slot 1). Timestamps are block timestamps cast to uint40, which holds them until the
    /// year 36812; downtime never exceeds a rental's length (below 2^44 s), checked before the cast.
    struct RentalSlot {
        // slot 0
        address renter;
        uint64 machineId;
        uint32 numHours;
        // slot 1
        uint128 amount;
        uint64 jobId;
        uint40 createdAt;
        RentalStatus status;
        bool settled;
        // slot 2
        uint128 withdrawn;
        uint40 startedAt;
        uint40 endedAt;
        uint40 downtime;
        // slot 3
        address arbiter;
    }

    IERC20 private immutable _duck;
    uint40 private immutable _ackWindow;
    uint40 private immutable _disputeWindow;
    uint128 private immutable _minStake;

    /// @dev Both counters share one slot so that the first rental does not pay for a fresh slot.
    uint64 private _machineCount;
    uint64 private _rentalCount;
    mapping(uint256 machineId => MachineSlot) private _machines;
    mapping(uint256 rentalId => RentalSlot) private _rentals;
    mapping(uint256 machineId => MachineRecord) private _records;
    mapping(address provider => mapping(bytes32 machineKey => uint256 machineId)) private _keyed;

    /// @param duck_ The $DUCK token.
    /// @param ackWindowSeconds Seconds a provider has to acknowledge a rental, 1 to 2^32 - 1.
    /// @param minStake_ Smallest stake (DUCK wei) a listing needs; 0 lets machines list unstaked.
    /// @param disputeWindowSeconds Seconds after a rental's end during which its downtime statement
    /// is accepted and the stake stays locked, 1 to 2^32 - 1.
    constructor(IERC20 duck_, uint256 ackWindowSeconds, uint128 minStake_, uint256 disputeWindowSeconds)
        EIP712("QuackMesh ComputeMarketplace", "1")
    {
        if (ackWindowSeconds == 0 || ackWindowSeconds > type(uint32).max) revert InvalidAckWindow(ackWindowSeconds);
        if (disputeWindowSeconds == 0 || disputeWindowSeconds > type(uint32).max) {
            revert InvalidDisputeWindow(disputeWindowSeconds);
        }
        _duck = duck_;
        _ackWindow = uint40(ackWindowSeconds);
        _minStake = minStake_;
        _disputeWindow = uint40(disputeWindowSeconds);
    }

    /// @inheritdoc IComputeMarketplace
    function listMachine(string calldata specs, uint256 pricePerHour, string calldata endpoint, uint32 maxHours)
        external
        returns (uint256 machineId)
    {
        machineId = _newMachine(pricePerHour, maxHours);
        if (_minStake != 0) revert StakeBelowMinimum(machineId, 0, _minStake);
        emit MachineListed(machineId, msg.sender, pricePerHour, maxHours, specs, endpoint);
    }

    /// @inheritdoc IComputeMarketplace
    function listStakedMachine(
        bytes32 machineKey,
        string calldata specs,
        uint256 pricePerHour,
        string calldata endpoint,
        uint32 maxHours,
        uint256 stake
    ) external nonReentrant returns (uint256 machineId) {
        machineId = _keyed[msg.sender][machineKey];
        MachineSlot storage machine;
        if (machineId == 0) {
            machineId = _newMachine(pricePerHour, maxHours);
            _keyed[msg.sender][machineKey] = machineId;
            machine = _machines[machineId];
        } else {
            if (pricePerHour == 0 || pricePerHour > MAX_PRICE) revert InvalidPrice(pricePerHour, MAX_PRICE);
            machine = _machines[machineId];
            machine.pricePerHour = uint96(pricePerHour);
            machine.maxHours = maxHours;
            machine.listed = true;
        }
        uint256 total = uint256(machine.stake) + stake;
        if (total < _minStake || total > type(uint128).max) revert StakeBelowMinimum(machineId, total, _minStake);
        if (stake != 0) {
            uint256 available = Funds.available(_duck, msg.sender);
            if (available < stake) revert InsufficientEscrow(machineId, stake, available);
            machine.stake = uint128(total);
        }
        emit MachineListed(machineId, msg.sender, pricePerHour, maxHours, specs, endpoint);
        if (stake != 0) {
            emit StakeDeposited(machineId, stake, total);
            // Interaction last: the stake is recorded before the token runs any code.
            _duck.safeTransferFrom(msg.sender, address(this), stake);
        }
    }

    /// @inheritdoc IComputeMarketplace
    function machineOf(address provider, bytes32 machineKey) external view returns (uint256) {
        return _keyed[provider][machineKey];
    }

    /// @inheritdoc IComputeMarketplace
    function withdrawStake(uint256 machineId) external nonReentrant returns (uint256 amount) {
        MachineSlot storage machine = _machineOf(machineId);
        if (machine.provider != msg.sender) revert NotProvider(machineId, msg.sender);
        if (machine.listed) revert MachineStillListed(machineId);
        amount = machine.stake;
        if (amount == 0) revert NothingStaked(machineId);
        uint256 rentalId = machine.activeRentalId;
        if (rentalId != 0) {
            uint64 unlockAt = _stakeUnlockAt(_rentals[rentalId]);
            if (block.timestamp < unlockAt) revert StakeLocked(machineId, rentalId, unlockAt);
        }
        machine.stake = 0;
        emit StakeWithdrawn(machineId, amount);
        _duck.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IComputeMarketplace
    function unlistMachine(uint256 machineId) external {
        MachineSlot storage machine = _machineOf(machineId);
        if (machine.provider != msg.sender) revert NotProvider(machineId, msg.sender);
        if (!machine.listed) revert MachineNotListed(machineId);
        machine.listed = false;
        emit MachineUnlisted(machineId);
    }

    /// @inheritdoc IComputeMarketplace
    function rentMachine(uint256 machineId, uint32 numHours, uint256 jobId, string calldata sshPublicKey)
        external
        nonReentrant
        returns (uint256 rentalId)
    {
        return _rent(machineId, numHours, jobId, sshPublicKey, address(0));
    }

    /// @inheritdoc IComputeMarketplace
    function rentMachineWithArbiter(
        uint256 machineId,
        uint32 numHours,
        uint256 jobId,
        string calldata sshPublicKey,
        address arbiter
    ) external nonReentrant returns (uint256 rentalId) {
        return _rent(machineId, numHours, jobId, sshPublicKey, arbiter);
    }

    function _rent(uint256 machineId, uint32 numHours, uint256 jobId, string calldata sshPublicKey, address arbiter)
        private
        returns (uint256 rentalId)
    {
        uint256 amount = _checkRent(machineId, numHours, jobId);
        // Fewer than 2^64 rentals can ever be made.
        unchecked {
            rentalId = ++_rentalCount;
        }
        RentalSlot storage rental = _rentals[rentalId];
        rental.renter = msg.sender;
        rental.machineId = uint64(machineId);
        rental.numHours = numHours;
        rental.amount = uint128(amount);
        rental.jobId = uint64(jobId);
        rental.createdAt = uint40(block.timestamp);
        rental.status = RentalStatus.Pending;
        _machines[machineId].activeRentalId = uint64(rentalId);
        emit MachineRented(rentalId, machineId, msg.sender, jobId, numHours, amount, sshPublicKey);
        if (arbiter != address(0)) {
            rental.arbiter = arbiter;
            emit ArbiterNamed(rentalId, arbiter);
        }

        // Interaction last: the rental and the busy machine are recorded before the token runs any code.
        _duck.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Every refusal of a rental; returns its price.
    function _checkRent(uint256 machineId, uint32 numHours, uint256 jobId) private view returns (uint256 amount) {
        MachineSlot storage machine = _machineOf(machineId);
        if (!machine.listed) revert MachineNotListed(machineId);
        if (machine.provider == msg.sender) revert SelfRental(machineId, msg.sender);
        uint32 maxHours = machine.maxHours;
        if (numHours == 0 || (maxHours != 0 && numHours > maxHours)) {
            revert InvalidHours(machineId, numHours, maxHours);
        }
        if (jobId > type(uint64).max) revert InvalidJobId(jobId);
        uint256 current = machine.activeRentalId;
        if (current != 0 && _occupies(_rentals[current])) revert MachineBusy(machineId, current);
        // A machine whose stake fell below the minimum (penalties) is not rented until topped up.
        if (machine.stake < _minStake) revert StakeBelowMinimum(machineId, machine.stake, _minStake);
        amount = uint256(machine.pricePerHour) * numHours;
        uint256 available = Funds.available(_duck, msg.sender);
        if (available < amount) revert InsufficientEscrow(machineId, amount, available);
    }

    /// @inheritdoc IComputeMarketplace
    function acknowledgeRental(uint256 rentalId) external {
        RentalSlot storage rental = _rentalOf(rentalId);
        uint256 machineId = rental.machineId;
        if (_machines[machineId].provider != msg.sender) revert NotProvider(machineId, msg.sender);
        if (rental.status != RentalStatus.Pending) revert InvalidRentalStatus(rentalId, rental.status);
        uint64 deadline = _ackDeadline(rental);
        if (block.timestamp > deadline) revert AckWindowClosed(rentalId, deadline);
        rental.status = RentalStatus.Active;
        rental.startedAt = uint40(block.timestamp);
        // Fewer than 2^32 rentals of one machine fit in any realistic lifetime.
        unchecked {
            _records[machineId].rentalsServed += 1;
        }
        emit RentalAcknowledged(rentalId, uint64(block.timestamp));
    }

    /// @inheritdoc IComputeMarketplace
    function declineRental(uint256 rentalId) external nonReentrant {
        RentalSlot storage rental = _rentalOf(rentalId);
        uint256 machineId = rental.machineId;
        if (_machines[machineId].provider != msg.sender) revert NotProvider(machineId, msg.sender);
        if (rental.status != RentalStatus.Pending) revert InvalidRentalStatus(rentalId, rental.status);
        uint256 refund = rental.amount;
        rental.status = RentalStatus.Cancelled;
        rental.endedAt = uint40(block.timestamp);
        emit RentalCancelled(rentalId, refund);
        // Interaction last: the status is Cancelled before the token runs.
        _duck.safeTransfer(rental.renter, refund);
    }

    /// @inheritdoc IComputeMarketplace
    function cancelUnacknowledged(uint256 rentalId) external nonReentrant {
        RentalSlot storage rental = _rentalOf(rentalId);
        if (rental.renter != msg.sender) revert NotRenter(rentalId, msg.sender);
        if (rental.status != RentalStatus.Pending) revert InvalidRentalStatus(rentalId, rental.status);
        uint64 deadline = _ackDeadline(rental);
        if (block.timestamp <= deadline) revert AckWindowOpen(rentalId, deadline);

        uint256 refund = rental.amount;
        rental.status = RentalStatus.Cancelled;
        rental.endedAt = uint40(block.timestamp);
        uint256 machineId = rental.machineId;
        MachineRecord storage record = _records[machineId];
        unchecked {
            record.rentalsMissed += 1;
        }
        uint256 penalty = _slash(machineId, rentalId, 0);
        emit RentalCancelled(rentalId, refund);

        // Interaction last: the status is Cancelled before the token runs, so a second refund is impossible.
        _duck.safeTransfer(msg.sender, refund + penalty);
    }

    /// @inheritdoc IComputeMarketplace
    function settleDowntime(uint256 rentalId, uint64 downtimeSeconds, bytes calldata arbiterSignature)
        external
        nonReentrant
    {
        RentalSlot storage rental = _rentalOf(rentalId);
        (uint256 end, uint256 served) = _checkStatement(rental, rentalId, downtimeSeconds, arbiterSignature);
        uint256 payout = _settle(rental, rentalId, downtimeSeconds, end, served);
        // Interaction last: the rental is settled and the stake reduced before the token runs.
        if (payout != 0) _duck.safeTransfer(rental.renter, payout);
    }

    /// @dev Every refusal of settleDowntime; returns when the rental stopped and how long it ran.
    function _checkStatement(
        RentalSlot storage rental,
        uint256 rentalId,
        uint64 downtimeSeconds,
        bytes calldata arbiterSignature
    ) private view returns (uint256 end, uint256 served) {
        address arbiter = rental.arbiter;
        if (arbiter == address(0)) revert NoArbiter(rentalId);
        RentalStatus status = rental.status;
        if (status != RentalStatus.Active && status != RentalStatus.Ended) revert InvalidRentalStatus(rentalId, status);
        if (rental.settled) revert AlreadySettled(rentalId);
        end = status == RentalStatus.Ended ? rental.endedAt : RentalMath.endsAt(rental.startedAt, rental.numHours);
        if (block.timestamp < end) revert RentalNotOver(rentalId, uint64(end));
        // end is below 2^45 and the window below 2^32.
        unchecked {
            if (block.timestamp > end + _disputeWindow) revert DisputeWindowClosed(rentalId, uint64(end + _disputeWindow));
            served = end - rental.startedAt;
        }
        if (downtimeSeconds > served) revert DowntimeTooLong(rentalId, downtimeSeconds, uint64(served));
        address signer = Signatures.signerOf(_hashTypedDataV4(Signatures.downtime(rentalId, downtimeSeconds)), arbiterSignature);
        if (signer != arbiter) revert InvalidArbiterSignature(rentalId, signer);
    }

    /// @dev Effects of a checked statement; returns what the renter is paid.
    function _settle(RentalSlot storage rental, uint256 rentalId, uint64 downtimeSeconds, uint256 end, uint256 served)
        private
        returns (uint256 payout)
    {
        uint256 refund = RentalMath.earnedAt(rental.amount, 0, downtimeSeconds, rental.numHours);
        // downtime <= served, so the refund never exceeds what the served time earned.
        uint256 earnedAfter = RentalMath.earnedAt(rental.amount, rental.startedAt, end, rental.numHours) - refund;
        uint256 withdrawn = rental.withdrawn;
        // What the provider already took beyond its remaining earnings comes back from the stake.
        uint256 shortfall = withdrawn > earnedAfter ? withdrawn - earnedAfter : 0;
        rental.settled = true;
        rental.downtime = uint40(downtimeSeconds);
        bool wasActive = rental.status == RentalStatus.Active;
        if (wasActive) {
            rental.status = RentalStatus.Ended;
            rental.endedAt = uint40(end);
        }
        if (shortfall != 0) rental.withdrawn = uint128(earnedAfter);
        uint256 machineId = rental.machineId;
        unchecked {
            _records[machineId].downtimeSeconds += downtimeSeconds;
        }
        uint256 fromStake = shortfall == 0 ? 0 : _slash(machineId, rentalId, shortfall);
        // Down for more than half the time the rental ran: the penalty comes on top of the shortfall.
        if (2 * uint256(downtimeSeconds) > served) fromStake += _slash(machineId, rentalId, 0);
        // The held earnings (earned - withdrawn before) cover refund - shortfall.
        payout = refund - shortfall + fromStake;
        if (wasActive) emit RentalEnded(rentalId, 0, earnedAfter);
        emit DowntimeSettled(rentalId, downtimeSeconds, refund);
    }

    /// @inheritdoc IComputeMarketplace
    function endRental(uint256 rentalId) external nonReentrant {
        RentalSlot storage rental = _rentalOf(rentalId);
        if (rental.renter != msg.sender) revert NotRenter(rentalId, msg.sender);
        if (rental.status != RentalStatus.Active) revert InvalidRentalStatus(rentalId, rental.status);

        uint256 amount = rental.amount;
        uint256 earnedTotal = RentalMath.earnedAt(amount, rental.startedAt, block.timestamp, rental.numHours);
        uint256 refund;
        // earnedAt never exceeds amount.
        unchecked {
            refund = amount - earnedTotal;
        }
        rental.status = RentalStatus.Ended;
        rental.endedAt = uint40(block.timestamp);
        emit RentalEnded(rentalId, refund, earnedTotal);

        // Interaction last: endedAt freezes the provider's earnings before any token code runs.
        if (refund != 0) _duck.safeTransfer(msg.sender, refund);
    }

    /// @inheritdoc IComputeMarketplace
    function withdrawEarnings(uint256 rentalId) external nonReentrant returns (uint256 amount) {
        RentalSlot storage rental = _rentalOf(rentalId);
        uint256 machineId = rental.machineId;
        if (_machines[machineId].provider != msg.sender) revert NotProvider(machineId, msg.sender);
        RentalStatus status = rental.status;
        if (status != RentalStatus.Active && status != RentalStatus.Ended) {
            revert InvalidRentalStatus(rentalId, status);
        }
        uint256 withdrawn = rental.withdrawn;
        uint256 earnedTotal = _earned(rental);
        if (earnedTotal <= withdrawn) revert NothingToWithdraw(rentalId);
        // Checked just above: earnedTotal > withdrawn, and earnedTotal <= amount < 2^128.
        unchecked {
            amount = earnedTotal - withdrawn;
        }
        rental.withdrawn = uint128(earnedTotal);
        emit EarningsWithdrawn(rentalId, msg.sender, amount);

        // Interaction last: `withdrawn` already counts this payment, so re-entry finds nothing to pay.
        _duck.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IComputeMarketplace
    function getMachine(uint256 machineId) external view returns (Machine memory) {
        MachineSlot storage m = _machineOf(machineId);
        return Machine({
            provider: m.provider,
            pricePerHour: m.pricePerHour,
            maxHours: m.maxHours,
            listed: m.listed,
            activeRentalId: m.activeRentalId,
            stake: m.stake
        });
    }

    /// @inheritdoc IComputeMarketplace
    function getRecord(uint256 machineId) external view returns (MachineRecord memory) {
        _machineOf(machineId);
        return _records[machineId];
    }

    /// @inheritdoc IComputeMarketplace
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc IComputeMarketplace
    function disputeWindow() external view returns (uint256) {
        return _disputeWindow;
    }

    /// @inheritdoc IComputeMarketplace
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IComputeMarketplace
    function getRental(uint256 rentalId) external view returns (Rental memory) {
        RentalSlot storage r = _rentalOf(rentalId);
        return Rental({
            machineId: r.machineId,
            renter: r.renter,
            jobId: r.jobId,
            numHours: r.numHours,
            amount: r.amount,
            createdAt: r.createdAt,
            startedAt: r.startedAt,
            endedAt: r.endedAt,
            withdrawn: r.withdrawn,
            status: r.status,
            arbiter: r.arbiter,
            downtimeSeconds: r.downtime,
            settled: r.settled
        });
    }

    /// @inheritdoc IComputeMarketplace
    function earned(uint256 rentalId) external view returns (uint256) {
        return _earned(_rentalOf(rentalId));
    }

    /// @inheritdoc IComputeMarketplace
    function machineCount() external view returns (uint256) {
        return _machineCount;
    }

    /// @inheritdoc IComputeMarketplace
    function rentalCount() external view returns (uint256) {
        return _rentalCount;
    }

    /// @inheritdoc IComputeMarketplace
    function ackWindow() external view returns (uint256) {
        return _ackWindow;
    }

    /// @inheritdoc IComputeMarketplace
    function duck() external view returns (address) {
        return address(_duck);
    }

    /// @dev Earned so far: up to now while Active, frozen at endedAt once Ended, nothing otherwise.
    function _earned(RentalSlot storage rental) private view returns (uint256) {
        RentalStatus status = rental.status;
        if (status == RentalStatus.Active) {
            return RentalMath.earnedAt(rental.amount, rental.startedAt, block.timestamp, rental.numHours);
        }
        if (status == RentalStatus.Ended) {
            uint256 amount = rental.amount;
            uint32 numHours = rental.numHours;
            // A settled downtime refund is never above what the served time earned (settleDowntime checks).
            return RentalMath.earnedAt(amount, rental.startedAt, rental.endedAt, numHours)
                - RentalMath.earnedAt(amount, 0, rental.downtime, numHours);
        }
        return 0;
    }

    /// @dev Lists a fresh machine of the caller (no stake yet).
    function _newMachine(uint256 pricePerHour, uint32 maxHours) private returns (uint256 machineId) {
        if (pricePerHour == 0 || pricePerHour > MAX_PRICE) revert InvalidPrice(pricePerHour, MAX_PRICE);
        // Fewer than 2^64 machines can ever be listed (each listing costs gas).
        unchecked {
            machineId = ++_machineCount;
        }
        MachineSlot storage machine = _machines[machineId];
        machine.provider = msg.sender;
        machine.pricePerHour = uint96(pricePerHour);
        machine.maxHours = maxHours;
        machine.listed = true;
    }

    /// @dev Takes `amount` from the machine's stake, or SLASH_BPS of what is left when `amount` is 0,
    /// capped at the stake; records the loss. Returns what was taken (the caller pays the renter).
    function _slash(uint256 machineId, uint256 rentalId, uint256 amount) private returns (uint256 taken) {
        MachineSlot storage machine = _machines[machineId];
        uint256 stake = machine.stake;
        taken = amount == 0 ? (stake * SLASH_BPS) / 10_000 : amount;
        if (taken > stake) taken = stake;
        if (taken == 0) return 0;
        // taken <= stake < 2^128.
        unchecked {
            machine.stake = uint128(stake - taken);
            _records[machineId].stakeLost += uint128(taken);
        }
        emit StakeSlashed(machineId, rentalId, taken);
    }

    /// @dev When the stake stops backing `rental`: a pending one can still be cancelled (with the
    /// penalty) until its window plus the dispute window; an active or ended one can get a downtime
    /// statement until its end plus the dispute window, unless one was settled.
    function _stakeUnlockAt(RentalSlot storage rental) private view returns (uint64) {
        RentalStatus status = rental.status;
        if (status == RentalStatus.Cancelled || rental.settled) return 0;
        // Timestamps below 2^45 plus windows below 2^33.
        unchecked {
            if (status == RentalStatus.Pending) return _ackDeadline(rental) + _disputeWindow;
            if (status == RentalStatus.Ended) return uint64(rental.endedAt) + _disputeWindow;
            return uint64(RentalMath.endsAt(rental.startedAt, rental.numHours)) + _disputeWindow;
        }
    }

    /// @dev A rental holds its machine while pending within the acknowledgement window, or while
    /// active and not yet fully served. A pending rental past the window can no longer start.
    function _occupies(RentalSlot storage rental) private view returns (bool) {
        RentalStatus status = rental.status;
        if (status == RentalStatus.Pending) return block.timestamp <= _ackDeadline(rental);
        if (status == RentalStatus.Active) {
            return block.timestamp < RentalMath.endsAt(rental.startedAt, rental.numHours);
        }
        return false;
    }

    function _ackDeadline(RentalSlot storage rental) private view returns (uint64) {
        // A uint40 timestamp plus a window below 2^32 stays below 2^41.
        unchecked {
            return uint64(rental.createdAt) + _ackWindow;
        }
    }

    function _machineOf(uint256 machineId) private view returns (MachineSlot storage machine) {
        machine = _machines[machineId];
        if (machine.provider == address(0)) revert UnknownMachine(machineId);
    }

    function _rentalOf(uint256 rentalId) private view returns (RentalSlot storage rental) {
        rental = _rentals[rentalId];
        if (rental.renter == address(0)) revert UnknownRental(rentalId);
    }
}
