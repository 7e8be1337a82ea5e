@echo off
echo run
