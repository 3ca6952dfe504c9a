// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Compute rental marketplace paid in $DUCK
/// @notice Providers list machines at a price per hour; renters escrow numHours × price up front. Once the
/// provider acknowledges, the clock runs and the provider may withdraw what has been earned so far:
/// earned = amount × min(elapsed since acknowledgement, numHours × 3600) / (numHours × 3600).
/// The renter may end early and gets the unserved part back, or cancel for a full refund when the
/// provider did not acknowledge within the acknowledgement window.
///
/// Accountability: a listing carries a DUCK stake (at least {minStake}); a rental may name an
/// arbiter (the orchestrator running the renter's cluster) whose EIP-712 `Downtime(rentalId,
/// downtimeSeconds)` statement refunds the renter pro rata for the time not served, the shortfall
/// coming out of the stake when the provider already withdrew it. A provider that never
/// acknowledges, or was down for more than half the time a rental ran, also loses
/// {SLASH_BPS}/10000 of its stake to the renter. Each machine's record is kept on chain.
/// @dev `hours` is a Solidity keyword, so the hour count is named `numHours` in calls, events and structs.
interface IComputeMarketplace {
    /// @notice Life cycle of a rental. `None` only for ids that do not exist.
    enum RentalStatus {
        None,
        Pending,
        Active,
        Ended,
        Cancelled
    }

    /// @notice A listed machine as returned by {getMachine}.
    /// @param provider Address that listed the machine and receives its earnings.
    /// @param pricePerHour Price in DUCK wei per hour.
    /// @param maxHours Longest rental accepted; 0 means no limit.
    /// @param listed False once the provider unlisted it; then no new rental can start.
    /// @param activeRentalId Latest rental of the machine (0 = never rented); it may already be over.
    /// @param stake DUCK wei the provider staked on the machine and has not lost or withdrawn.
    struct Machine {
        address provider;
        uint256 pricePerHour;
        uint32 maxHours;
        bool listed;
        uint256 activeRentalId;
        uint256 stake;
    }

    /// @notice A machine's service record as returned by {getRecord}.
    /// @param rentalsServed Rentals the provider acknowledged.
    /// @param rentalsMissed Rentals cancelled because the provider never acknowledged them.
    /// @param downtimeSeconds Seconds of downtime in arbiters' settled statements.
    /// @param stakeLost DUCK wei of stake paid to renters (shortfalls and penalties).
    struct MachineRecord {
        uint32 rentalsServed;
        uint32 rentalsMissed;
        uint64 downtimeSeconds;
        uint128 stakeLost;
    }

    /// @notice A rental as returned by {getRental}.
    /// @param machineId Machine rented.
    /// @param renter Address that paid the escrow and receives refunds.
    /// @param jobId Training job the rental serves (0 = none); informational.
    /// @param numHours Hours paid for.
    /// @param amount Escrowed amount: numHours × pricePerHour at the time of renting.
    /// @param createdAt Block timestamp of {rentMachine}.
    /// @param startedAt Block timestamp of {acknowledgeRental}; 0 while pending.
    /// @param endedAt Block timestamp of {endRental} or {cancelUnacknowledged}; 0 otherwise.
    /// @param withdrawn Earnings the provider has already withdrawn.
    /// @param status Current status.
    /// @param arbiter Who may sign the rental's downtime statement (0 = none).
    /// @param downtimeSeconds Downtime settled by the arbiter's statement.
    /// @param settled True once a downtime statement was settled.
    struct Rental {
        uint256 machineId;
        address renter;
        uint256 jobId;
        uint32 numHours;
        uint256 amount;
        uint64 createdAt;
        uint64 startedAt;
        uint64 endedAt;
        uint256 withdrawn;
        RentalStatus status;
        address arbiter;
        uint64 downtimeSeconds;
        bool settled;
    }

    /// @notice Emitted when a machine was listed. Specs and endpoint live only in this event.
    event MachineListed(
        uint256 indexed machineId,
        address indexed provider,
        uint256 pricePerHour,
        uint32 maxHours,
        string specs,
        string endpoint
    );

    /// @notice Emitted when a provider unlisted a machine.
    event MachineUnlisted(uint256 indexed machineId);

    /// @notice Emitted when a renter escrowed `amount` for `numHours`. The SSH key lives only in this event.
    event MachineRented(
        uint256 indexed rentalId,
        uint256 indexed machineId,
        address indexed renter,
        uint256 jobId,
        uint32 numHours,
        uint256 amount,
        string sshPublicKey
    );

    /// @notice Emitted when the provider acknowledged a rental and its clock started.
    event RentalAcknowledged(uint256 indexed rentalId, uint64 startedAt);

    /// @notice Emitted when a renter cancelled an unacknowledged rental and got `refund` back.
    event RentalCancelled(uint256 indexed rentalId, uint256 refund);

    /// @notice Emitted when a renter ended a rental: `refund` went back, `earned` stays claimable by the provider.
    event RentalEnded(uint256 indexed rentalId, uint256 refund, uint256 earned);

    /// @notice Emitted when a provider added `amount` to a machine's stake, which is now `stake`.
    event StakeDeposited(uint256 indexed machineId, uint256 amount, uint256 stake);

    /// @notice Emitted when a provider took a machine's whole stake back.
    event StakeWithdrawn(uint256 indexed machineId, uint256 amount);

    /// @notice Emitted when a rental named an arbiter (after {MachineRented}, in the same transaction).
    event ArbiterNamed(uint256 indexed rentalId, address indexed arbiter);

    /// @notice Emitted when `amount` of a machine's stake went to the renter of `rentalId`.
    event StakeSlashed(uint256 indexed machineId, uint256 indexed rentalId, uint256 amount);

    /// @notice Emitted when the arbiter's statement of `downtimeSeconds` was settled: `refund` (pro rata
    /// for the downtime, part of it possibly from the stake) went back to the renter.
    event DowntimeSettled(uint256 indexed rentalId, uint64 downtimeSeconds, uint256 refund);

    /// @notice Emitted when a provider withdrew `amount` of a rental's earnings.
    event EarningsWithdrawn(uint256 indexed rentalId, address indexed provider, uint256 amount);

    /// @notice The acknowledgement window given to the constructor must be 1 to 2^32 - 1 seconds.
    error InvalidAckWindow(uint256 ackWindowSeconds);
    /// @notice No machine has this id.
    error UnknownMachine(uint256 machineId);
    /// @notice No rental has this id.
    error UnknownRental(uint256 rentalId);
    /// @notice The price is zero or above `maxPrice` (2^96 - 1 wei).
    error InvalidPrice(uint256 pricePerHour, uint256 maxPrice);
    /// @notice The job id does not fit in 64 bits.
    error InvalidJobId(uint256 jobId);
    /// @notice `numHours` is zero or above the machine's `maxHours` (0 = no limit).
    error InvalidHours(uint256 machineId, uint32 numHours, uint32 maxHours);
    /// @notice The machine was unlisted; no new rental can start.
    error MachineNotListed(uint256 machineId);
    /// @notice A provider cannot rent its own machine (`renter` is the machine's provider).
    error SelfRental(uint256 machineId, address renter);
    /// @notice The machine is taken by `rentalId`, pending or running and not yet over.
    error MachineBusy(uint256 machineId, uint256 rentalId);
    /// @notice The renter's balance or allowance (`available`, the smaller one) is below `needed`.
    error InsufficientEscrow(uint256 machineId, uint256 needed, uint256 available);
    /// @notice Only the machine's provider may do this.
    error NotProvider(uint256 machineId, address caller);
    /// @notice Only the rental's renter may do this.
    error NotRenter(uint256 rentalId, address caller);
    /// @notice The rental is in `status`, not the one this call needs.
    error InvalidRentalStatus(uint256 rentalId, RentalStatus status);
    /// @notice The acknowledgement window closed at `deadline`; the renter may cancel instead.
    error AckWindowClosed(uint256 rentalId, uint64 deadline);
    /// @notice The acknowledgement window is open until `deadline`; cancelling must wait.
    error AckWindowOpen(uint256 rentalId, uint64 deadline);
    /// @notice Everything earned so far has been withdrawn.
    error NothingToWithdraw(uint256 rentalId);
    /// @notice A listing's stake after this call would be `stake`, below the deployment's `minStake`.
    error StakeBelowMinimum(uint256 machineId, uint256 stake, uint256 minStake);
    /// @notice The machine is still listed; unlist it before taking its stake back.
    error MachineStillListed(uint256 machineId);
    /// @notice The stake backs `rentalId` until `unlockAt` (its dispute window).
    error StakeLocked(uint256 machineId, uint256 rentalId, uint64 unlockAt);
    /// @notice The machine has no stake left.
    error NothingStaked(uint256 machineId);
    /// @notice The rental named no arbiter, so no downtime statement can be settled for it.
    error NoArbiter(uint256 rentalId);
    /// @notice The rental runs until `endsAt`; end it first or wait.
    error RentalNotOver(uint256 rentalId, uint64 endsAt);
    /// @notice Statements are accepted until `closedAt` (the rental's end plus the dispute window).
    error DisputeWindowClosed(uint256 rentalId, uint64 closedAt);
    /// @notice A downtime statement was already settled for this rental.
    error AlreadySettled(uint256 rentalId);
    /// @notice The statement claims more downtime than the `served` seconds the rental ran.
    error DowntimeTooLong(uint256 rentalId, uint64 downtimeSeconds, uint64 served);
    /// @notice The statement was signed by `signer`, not by the rental's arbiter.
    error InvalidArbiterSignature(uint256 rentalId, address signer);
    /// @notice The window given to the constructor must be 1 to 2^32 - 1 seconds.
    error InvalidDisputeWindow(uint256 disputeWindowSeconds);

    /// @notice Lists a machine for rent.
    /// @param specs JSON description of the machine (GPU, RAM, ...); emitted, not stored.
    /// @param pricePerHour Price in DUCK wei per hour, 1 to 2^96 - 1.
    /// @param endpoint Where renters reach the machine (host:port); emitted, not stored.
    /// @param maxHours Longest rental accepted; 0 means no limit.
    /// @return machineId Id of the new machine, starting at 1.
    function listMachine(string calldata specs, uint256 pricePerHour, string calldata endpoint, uint32 maxHours)
        external
        returns (uint256 machineId);

    /// @notice Lists (or updates and relists) the machine `machineKey` of the caller, adding `stake` to it.
    /// @dev The same (provider, machineKey) always gets the same machineId, so a provider that restarts
    /// keeps its id and record. Pulls `stake` (approve first); the machine's stake must reach {minStake}.
    /// @return machineId Id of the machine, new or the one this key listed before.
    function listStakedMachine(
        bytes32 machineKey,
        string calldata specs,
        uint256 pricePerHour,
        string calldata endpoint,
        uint32 maxHours,
        uint256 stake
    ) external returns (uint256 machineId);

    /// @notice The machine the caller listed under `machineKey` (0 = none).
    function machineOf(address provider, bytes32 machineKey) external view returns (uint256);

    /// @notice Stops new rentals of a machine. A running or pending rental continues.
    /// @param machineId Machine to unlist; caller must be its provider.
    function unlistMachine(uint256 machineId) external;

    /// @notice Rents a listed, free machine, pulling numHours × pricePerHour into escrow (approve first).
    /// @dev The machine's own provider cannot rent it ({SelfRental}).
    /// @param machineId Machine to rent.
    /// @param numHours Hours to pay for, 1 to the machine's maxHours.
    /// @param jobId Training job the rental serves (0 = none), below 2^64.
    /// @param sshPublicKey Key the provider installs for the renter; emitted, not stored.
    /// @return rentalId Id of the new rental, starting at 1.
    function rentMachine(uint256 machineId, uint32 numHours, uint256 jobId, string calldata sshPublicKey)
        external
        returns (uint256 rentalId);

    /// @notice {rentMachine}, naming `arbiter` (0 = none) as the signer of the rental's downtime statement.
    /// @dev The provider sees the arbiter before acknowledging and may {declineRental} one it does not trust.
    function rentMachineWithArbiter(
        uint256 machineId,
        uint32 numHours,
        uint256 jobId,
        string calldata sshPublicKey,
        address arbiter
    ) external returns (uint256 rentalId);

    /// @notice Provider turns down a pending rental (e.g. an arbiter it does not trust): full refund to the
    /// renter, no penalty. Emits {RentalCancelled}.
    function declineRental(uint256 rentalId) external;

    /// @notice Settles the arbiter's EIP-712 `Downtime(rentalId, downtimeSeconds)` statement; anyone may send it.
    /// @dev Once per rental, after it is over (ended, or its paid time ran out) and until the dispute
    /// window after that closes. Refund = amount × downtimeSeconds / paid seconds; what the provider
    /// already withdrew beyond its remaining earnings comes out of the stake, and downtime above half
    /// the time served costs a further {SLASH_BPS}/10000 of the stake.
    function settleDowntime(uint256 rentalId, uint64 downtimeSeconds, bytes calldata arbiterSignature) external;

    /// @notice Provider takes the whole stake of an unlisted machine back once its latest rental's
    /// dispute window closed (or it was settled or cancelled).
    function withdrawStake(uint256 machineId) external returns (uint256 amount);

    /// @notice Provider confirms the machine is ready; the rental's clock starts now.
    /// @dev Allowed only while pending and within the acknowledgement window.
    function acknowledgeRental(uint256 rentalId) external;

    /// @notice Renter cancels a rental the provider did not acknowledge within the window; full refund,
    /// plus {SLASH_BPS}/10000 of the machine's stake.
    function cancelUnacknowledged(uint256 rentalId) external;

    /// @notice Renter ends an active rental now; the unserved part is refunded, the earned part stays
    /// withdrawable by the provider.
    function endRental(uint256 rentalId) external;

    /// @notice Provider withdraws what the rental has earned so far, minus what was already withdrawn.
    /// @return amount DUCK wei paid to the provider.
    function withdrawEarnings(uint256 rentalId) external returns (uint256 amount);

    /// @notice The machine `machineId`; reverts with {UnknownMachine} for an unused id.
    function getMachine(uint256 machineId) external view returns (Machine memory);

    /// @notice The rental `rentalId`; reverts with {UnknownRental} for an unused id.
    function getRental(uint256 rentalId) external view returns (Rental memory);

    /// @notice Total earned by the provider so far (including what was withdrawn).
    function earned(uint256 rentalId) external view returns (uint256);

    /// @notice The service record of `machineId`; reverts with {UnknownMachine} for an unused id.
    function getRecord(uint256 machineId) external view returns (MachineRecord memory);

    /// @notice Share of a machine's stake, in basis points, a renter receives as a penalty.
    function SLASH_BPS() external view returns (uint256);

    /// @notice Smallest stake a listing needs (DUCK wei), fixed at deployment.
    function minStake() external view returns (uint256);

    /// @notice Seconds after a rental's end during which its downtime statement is accepted.
    function disputeWindow() external view returns (uint256);

    /// @notice EIP-712 domain separator of downtime statements.
    function domainSeparator() external view returns (bytes32);

    /// @notice Number of machines ever listed (the highest machine id).
    function machineCount() external view returns (uint256);

    /// @notice Number of rentals ever made (the highest rental id).
    function rentalCount() external view returns (uint256);

    /// @notice Seconds a provider has to acknowledge a rental.
    function ackWindow() external view returns (uint256);

    /// @notice The $DUCK token used for payment.
    function duck() external view returns (address);
}
