// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IComputeMarketplace} from "./interfaces/IComputeMarketplace.sol";
import {Funds} from "./libraries/Funds.sol";
import {RentalMath} from "./libraries/RentalMath.sol";

/// @title ComputeMarketplace
/// @notice Escrowed, pay-as-served rentals of provider machines in $DUCK.
/// @dev Invariant: the contract's DUCK balance equals, over all rentals, amount for Pending,
/// amount - withdrawn for Active, earned-at-end - withdrawn for Ended, and 0 for Cancelled.
contract ComputeMarketplace is IComputeMarketplace, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @dev Prices are stored in 96 bits so that a machine fits two slots; amount = price × hours < 2^128.
    uint256 private constant MAX_PRICE = type(uint96).max;

    /// @dev Storage form of {Machine}: provider and price in one slot, the rest in the second.
    struct MachineSlot {
        address provider;
        uint96 pricePerHour;
        uint32 maxHours;
        bool listed;
        uint64 activeRentalId;
    }

    /// @dev Storage form of {Rental}: rentMachine writes slots 0 and 1 only; acknowledgement,
    /// withdrawals and the end touch slot 2 (and the status in slot 1). Timestamps are block
    /// timestamps cast to uint40, which holds them until the year 36812.
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
        // slot 2
        uint128 withdrawn;
        uint40 startedAt;
        uint40 endedAt;
    }

    IERC20 private immutable _duck;
    uint40 private immutable _ackWindow;

    /// @dev Both counters share one slot so that the first rental does not pay for a fresh slot.
    uint64 private _machineCount;
    uint64 private _rentalCount;
    mapping(uint256 machineId => MachineSlot) private _machines;
    mapping(uint256 rentalId => RentalSlot) private _rentals;

    /// @param duck_ The $DUCK token.
    /// @param ackWindowSeconds Seconds a provider has to acknowledge a rental, 1 to 2^32 - 1.
    constructor(IERC20 duck_, uint256 ackWindowSeconds) {
        if (ackWindowSeconds == 0 || ackWindowSeconds > type(uint32).max) revert InvalidAckWindow(ackWindowSeconds);
        _duck = duck_;
        _ackWindow = uint40(ackWindowSeconds);
    }

    /// @inheritdoc IComputeMarketplace
    function listMachine(string calldata specs, uint256 pricePerHour, string calldata endpoint, uint32 maxHours)
        external
        returns (uint256 machineId)
    {
        if (pricePerHour == 0 || pricePerHour > MAX_PRICE) revert InvalidPrice(pricePerHour, MAX_PRICE);
        // Fewer than 2^64 machines can ever be listed (each listing costs gas).
        unchecked {
            machineId = ++_machineCount;
        }
        _machines[machineId] = MachineSlot({
            provider: msg.sender,
            pricePerHour: uint96(pricePerHour),
            maxHours: maxHours,
            listed: true,
            activeRentalId: 0
        });
        emit MachineListed(machineId, msg.sender, pricePerHour, maxHours, specs, endpoint);
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

        uint256 amount = uint256(machine.pricePerHour) * numHours;
        uint256 available = Funds.available(_duck, msg.sender);
        if (available < amount) revert InsufficientEscrow(machineId, amount, available);

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
        machine.activeRentalId = uint64(rentalId);
        emit MachineRented(rentalId, machineId, msg.sender, jobId, numHours, amount, sshPublicKey);

        // Interaction last: the rental and the busy machine are recorded before the token runs any code.
        _duck.safeTransferFrom(msg.sender, address(this), amount);
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
        emit RentalAcknowledged(rentalId, uint64(block.timestamp));
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
        emit RentalCancelled(rentalId, refund);

        // Interaction last: the status is Cancelled before the token runs, so a second refund is impossible.
        _duck.safeTransfer(msg.sender, refund);
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
            activeRentalId: m.activeRentalId
        });
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
            status: r.status
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
            return RentalMath.earnedAt(rental.amount, rental.startedAt, rental.endedAt, rental.numHours);
        }
        return 0;
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
