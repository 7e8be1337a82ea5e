@echo off
echo tool %1
