// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Compute rental marketplace paid in $DUCK
/// @notice Providers list machines at a price per hour; renters escrow numHours × price up front. Once the
/// provider acknowledges, the clock runs and the provider may withdraw what has been earned so far:
/// earned = amount × min(elapsed since acknowledgement, numHours × 3600) / (numHours × 3600).
/// The renter may end early and gets the unserved part back, or cancel for a full refund when the
/// provider did not acknowledge within the acknowledgement window.
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
    struct Machine {
        address provider;
        uint256 pricePerHour;
        uint32 maxHours;
        bool listed;
        uint256 activeRentalId;
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

    /// @notice Lists a machine for rent.
    /// @param specs JSON description of the machine (GPU, RAM, ...); emitted, not stored.
    /// @param pricePerHour Price in DUCK wei per hour, 1 to 2^96 - 1.
    /// @param endpoint Where renters reach the machine (host:port); emitted, not stored.
    /// @param maxHours Longest rental accepted; 0 means no limit.
    /// @return machineId Id of the new machine, starting at 1.
    function listMachine(string calldata specs, uint256 pricePerHour, string calldata endpoint, uint32 maxHours)
        external
        returns (uint256 machineId);

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

    /// @notice Provider confirms the machine is ready; the rental's clock starts now.
    /// @dev Allowed only while pending and within the acknowledgement window.
    function acknowledgeRental(uint256 rentalId) external;

    /// @notice Renter cancels a rental the provider did not acknowledge within the window; full refund.
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

    /// @notice Number of machines ever listed (the highest machine id).
    function machineCount() external view returns (uint256);

    /// @notice Number of rentals ever made (the highest rental id).
    function rentalCount() external view returns (uint256);

    /// @notice Seconds a provider has to acknowledge a rental.
    function ackWindow() external view returns (uint256);

    /// @notice The $DUCK token used for payment.
    function duck() external view returns (address);
}
