// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IDuckToken} from "./interfaces/IDuckToken.sol";

/// @title DuckToken
/// @notice The local-chain $DUCK: ERC-20 "Duck Token" / "DUCK" with permit, minted by its deployer.
contract DuckToken is IDuckToken, ERC20, ERC20Permit, Ownable {
    constructor() ERC20("Duck Token", "DUCK") ERC20Permit("Duck Token") Ownable(msg.sender) {}

    /// @inheritdoc IDuckToken
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
