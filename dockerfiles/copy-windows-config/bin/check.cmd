@echo off
exit /b 0
