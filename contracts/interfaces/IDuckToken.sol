// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title $DUCK, the QuackMesh payment token
/// @notice ERC-20 "Duck Token" / "DUCK" with 18 decimals and ERC-2612 permit. On the local chain the
/// deployer mints; on DuckChain the real $DUCK address is configured instead of deploying this token.
interface IDuckToken is IERC20 {
    /// @notice Creates `amount` DUCK wei and assigns them to `to`.
    /// @dev Only the owner (the deployer) may mint; reverts with Ownable's `OwnableUnauthorizedAccount(caller)` otherwise.
    /// @param to Receiver of the new tokens.
    /// @param amount Amount in DUCK wei.
    function mint(address to, uint256 amount) external;
}
